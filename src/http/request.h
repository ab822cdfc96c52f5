// An HTTP/1.x request as the server receives it, and the incremental parser that reads it off a
// connection (RFC 9112). The parser is strict where framing is at stake (a request smuggled past
// it must be impossible): one way to find the body's end, Content-Length or chunked, never both;
// no white space before a field's colon; no folded or control characters in fields; lines end in
// CR LF (a bare LF, which RFC 9112 lets a recipient accept, could read differently here than in
// a proxy in front). Empty lines before the request line are skipped.
#pragma once

#include <cstdint>
#include <ostream>  // before verb.hpp, whose string_view needs it (Boost 1.81)
#include <boost/beast/http/verb.hpp>
#include <boost/container/small_vector.hpp>
#include <string>
#include <string_view>

namespace ors::http {

class Request {
 public:
  Request() = default;
  // A request built by hand (tests, internal calls).
  Request(boost::beast::http::verb method, std::string_view target, unsigned version = 11);

  boost::beast::http::verb method() const { return method_; }  // verb::unknown for a method Beast does not name
  std::string_view methodString() const { return view(method_string_); }
  std::string_view target() const { return view(target_); }
  unsigned version() const { return version_; }  // 10 or 11
  // The value of the first field of that name, white space trimmed ("" when there is none);
  // names compare without case.
  std::string_view header(std::string_view name) const;
  // Whether the connection stays open after the answer: HTTP/1.1 unless "Connection: close",
  // HTTP/1.0 only with "Connection: keep-alive".
  bool keepAlive() const;
  std::string& body() { return body_; }
  const std::string& body() const { return body_; }

  void addHeader(std::string_view name, std::string_view value);
  // The request written out in HTTP/1.x form (fields as received, the body decoded and framed by
  // Content-Length).
  std::string raw() const;

 private:
  friend class RequestParser;
  struct Span {
    uint32_t at = 0, size = 0;
  };
  struct Field {
    Span name, value;
  };
  std::string_view view(Span s) const { return std::string_view(head_).substr(s.at, s.size); }
  Span append(std::string_view text);

  std::string head_;  // the request line and fields as received; the spans point into it
  Span method_string_, target_;
  boost::container::small_vector<Field, 8> fields_;
  boost::beast::http::verb method_ = boost::beast::http::verb::unknown;
  unsigned version_ = 11;
  std::string body_;
};

// Reads one request from the bytes of a connection, given as they arrive. Limits: the request
// line with the fields (431 beyond it), and the body (413 beyond it).
class RequestParser {
 public:
  enum class Status { kNeedMore, kDone, kError };

  RequestParser(size_t headerLimit, size_t bodyLimit) : headerLimit_(headerLimit), bodyLimit_(bodyLimit) {}

  // Reads from `data` (the bytes buffered and not yet consumed, which start where the last call
  // stopped) and returns how many of them it consumed: none until the head is complete, then the
  // head, then body bytes as they come. After kDone, what follows belongs to the next request.
  size_t put(std::string_view data, Status* status);
  // The request, once put() said kDone.
  Request release() { return std::move(request_); }

  // Whether bytes of a request were seen (a connection closing now cuts a request short).
  bool gotSome() const { return gotSome_; }
  // Whether the client waits for "100 Continue" before it sends the body: the head asked for it,
  // the body is expected, and none of it is here.
  bool expectsContinue() const { return expectContinue_ && !bodyStarted_; }
  // After kError: the answer's status (400, 413, 431, 501, 505) and what was wrong.
  unsigned errorStatus() const { return errorStatus_; }
  const std::string& errorMessage() const { return error_; }

 private:
  enum class State { kHead, kBody, kChunkSize, kChunkData, kChunkDataEnd, kTrailers, kDone, kError };

  size_t parseHead(std::string_view data, Status* status);
  bool parseFields(std::string_view head);
  size_t parseChunked(std::string_view data, Status* status);
  size_t takeBody(std::string_view data);  // up to remaining_ body bytes of `data`; how many
  // Where the line of `data` starting at `from` ends, before its CR LF (`next`: after it); npos
  // when it has not ended, kBareLf when it ends in LF alone.
  static constexpr size_t kBareLf = std::string_view::npos - 1;
  static size_t lineEnd(std::string_view data, size_t from, size_t* next);
  size_t fail(unsigned status, std::string message, Status* out);

  size_t headerLimit_, bodyLimit_;
  State state_ = State::kHead;
  Request request_;
  size_t scanned_ = 0;      // head: bytes already searched for the empty line
  uint64_t remaining_ = 0;  // body or chunk bytes still to come
  size_t trailerBytes_ = 0;
  bool gotSome_ = false;
  bool expectContinue_ = false;
  bool bodyStarted_ = false;
  unsigned errorStatus_ = 0;
  std::string error_;
};

}  // namespace ors::http
