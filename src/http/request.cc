#include "http/request.h"

#include <array>
#include <boost/beast/core/string.hpp>

#include "http/url.h"

namespace ors::http {

namespace bh = boost::beast::http;

namespace {

using boost::beast::iequals;

// A token (a field's name) against a name in lower case made of letters and '-': setting the
// 0x20 bit folds case exactly there, since no other token character lands on a letter or '-'.
bool isName(std::string_view token, std::string_view lowerName) {
  if (token.size() != lowerName.size()) return false;
  for (size_t i = 0; i < token.size(); ++i)
    if ((token[i] | 0x20) != lowerName[i]) return false;
  return true;
}

// Character classes, one table lookup per byte: a token's characters (RFC 9110 5.6.2 tchar);
// a field value's (visible ASCII, SP, HT and obs-text; never CR, LF, NUL or other controls); a
// request target's (visible ASCII and obs-text).
enum : uint8_t { kTokenChar = 1, kValueChar = 2, kTargetChar = 4 };
constexpr auto kCharClass = [] {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    bool visible = c > 0x20 && c != 0x7f;
    if (visible || c == ' ' || c == '\t') t[c] |= kValueChar;
    if (visible) t[c] |= kTargetChar;
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || (c < 0x80 && std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos))
      t[c] |= kTokenChar;
  }
  return t;
}();

bool all(std::string_view s, uint8_t cls) {
  // No early exit: the usual input passes, and a branch-free loop is cheaper per byte.
  uint8_t common = 0xff;
  for (unsigned char c : s) common &= kCharClass[c];
  return (common & cls) != 0;
}

bool isToken(std::string_view s) { return !s.empty() && all(s, kTokenChar); }
bool isFieldValue(std::string_view s) { return all(s, kValueChar); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Calls f(token) for each element of a comma-separated list, trimmed; empty elements skipped.
template <typename F>
void forEachListItem(std::string_view list, F&& f) {
  while (!list.empty()) {
    size_t comma = list.find(',');
    std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) f(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

constexpr size_t kChunkLineLimit = 4096;

}  // namespace

Request::Request(bh::verb method, std::string_view target, unsigned version) : method_(method), version_(version) {
  method_string_ = append(bh::to_string(method));
  target_ = append(target);
}

Request::Span Request::append(std::string_view text) {
  Span s{static_cast<uint32_t>(head_.size()), static_cast<uint32_t>(text.size())};
  head_.append(text);
  return s;
}

void Request::addHeader(std::string_view name, std::string_view value) {
  Span n = append(name);
  fields_.push_back({n, append(value)});
}

std::string_view Request::header(std::string_view name) const {
  for (const Field& f : fields_)
    if (iequals(view(f.name), name)) return view(f.value);
  return {};
}

std::string Request::raw() const {
  std::string out;
  out.reserve(head_.size() + fields_.size() * 4 + 16 + body_.size());
  out.append(methodString()).append(" ").append(target()).append(version_ == 10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n");
  bool chunked = false;
  for (const Field& f : fields_) {
    if (isName(view(f.name), "transfer-encoding")) {
      chunked = true;  // the body below is decoded: framed by its length instead
      continue;
    }
    out.append(view(f.name)).append(": ").append(view(f.value)).append("\r\n");
  }
  if (chunked) out.append("Content-Length: ").append(std::to_string(body_.size())).append("\r\n");
  return out.append("\r\n").append(body_);
}

bool Request::keepAlive() const {
  bool close = false, keepAlive = false;
  for (const Field& f : fields_) {
    if (!isName(view(f.name), "connection")) continue;
    forEachListItem(view(f.value), [&](std::string_view token) {
      if (iequals(token, "close")) close = true;
      if (iequals(token, "keep-alive")) keepAlive = true;
    });
  }
  if (close) return false;
  return version_ >= 11 || keepAlive;
}

size_t RequestParser::lineEnd(std::string_view data, size_t from, size_t* next) {
  size_t lf = data.find('\n', from);
  if (lf == std::string_view::npos) return lf;
  *next = lf + 1;
  return lf > from && data[lf - 1] == '\r' ? lf - 1 : kBareLf;
}

size_t RequestParser::fail(unsigned status, std::string message, Status* out) {
  state_ = State::kError;
  errorStatus_ = status;
  error_ = std::move(message);
  *out = Status::kError;
  return 0;
}

size_t RequestParser::put(std::string_view data, Status* status) {
  size_t used = 0;
  for (;;) {
    std::string_view rest = data.substr(used);
    switch (state_) {
      case State::kHead: {
        size_t n = parseHead(rest, status);
        used += n;
        if (state_ == State::kHead || state_ == State::kError) return used;
        break;
      }
      case State::kBody: {
        used += takeBody(rest);
        if (remaining_ > 0) {
          *status = Status::kNeedMore;
          return used;
        }
        state_ = State::kDone;
        break;
      }
      case State::kChunkSize:
      case State::kChunkData:
      case State::kChunkDataEnd:
      case State::kTrailers: {
        used += parseChunked(rest, status);
        if (state_ != State::kDone) return used;
        break;
      }
      case State::kDone:
        *status = Status::kDone;
        return used;
      case State::kError:
        *status = Status::kError;
        return used;
    }
  }
}

size_t RequestParser::takeBody(std::string_view data) {
  size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size()));
  if (n > 0) bodyStarted_ = true;
  request_.body_.append(data.data(), n);
  remaining_ -= n;
  return n;
}

size_t RequestParser::parseHead(std::string_view data, Status* status) {
  // Empty lines before the request line are skipped (RFC 9112 2.2).
  size_t skipped = 0;
  if (scanned_ == 0) {
    while (skipped < data.size()) {
      if (data[skipped] == '\n') ++skipped;
      else if (data.substr(skipped, 2) == "\r\n") skipped += 2;
      else break;
    }
    data.remove_prefix(skipped);
  }
  if (!data.empty() && data != "\r") gotSome_ = true;
  // The head ends at the first empty line after the request line.
  size_t end = std::string_view::npos;
  while (end == std::string_view::npos) {
    size_t next = 0;
    size_t stop = lineEnd(data, scanned_, &next);
    if (stop == std::string_view::npos) break;
    // A line ending past the limit is too large whatever it holds (so the verdict does not
    // depend on how the bytes arrived).
    if (next > headerLimit_) break;
    if (stop == kBareLf) return fail(400, "malformed HTTP request: a line ends in LF without CR", status);
    if (stop == scanned_ && scanned_ > 0) end = next;
    scanned_ = next;
  }
  if (end == std::string_view::npos) {
    if (data.size() > headerLimit_)
      return fail(431, "request header larger than " + std::to_string(headerLimit_) + " bytes", status);
    *status = Status::kNeedMore;
    return skipped;
  }
  request_.head_.assign(data.data(), end);
  if (!parseFields(request_.head_)) {
    *status = Status::kError;
    return 0;
  }
  *status = state_ == State::kDone ? Status::kDone : Status::kNeedMore;
  return skipped + end;
}

bool RequestParser::parseFields(std::string_view head) {
  Status ignored;
  auto bad = [&](const std::string& why) {
    fail(400, "malformed HTTP request: " + why, &ignored);
    return false;
  };
  auto span = [&](std::string_view part) {
    return Request::Span{static_cast<uint32_t>(part.data() - head.data()), static_cast<uint32_t>(part.size())};
  };

  // request-line = method SP request-target SP HTTP-version
  size_t next = 0;
  std::string_view line = head.substr(0, lineEnd(head, 0, &next));
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos) return bad("the request line is not 'METHOD target HTTP/1.x'");
  std::string_view method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1),
                   version = line.substr(sp2 + 1);
  if (!isToken(method)) return bad("invalid method");
  if (target.empty()) return bad("empty request target");
  if (!all(target, kTargetChar)) return bad("invalid character in the request target");
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' || version[5] < '0' ||
      version[5] > '9' || version[7] < '0' || version[7] > '9')
    return bad("invalid HTTP version");
  if (version[5] != '1') {
    fail(505, "HTTP version " + std::string(version.substr(5)) + " not supported", &ignored);
    return false;
  }
  request_.version_ = version[7] == '0' ? 10 : 11;
  request_.method_string_ = span(method);
  request_.method_ = bh::string_to_verb(method);
  request_.target_ = span(target);

  // Fields, and what they say of the body.
  std::string_view contentLength;
  bool conflicting = false;
  bool hasTransferEncoding = false, lastChunked = false, otherCoding = false;
  int chunkedCount = 0;
  for (size_t at = next; at < head.size();) {
    size_t stop = lineEnd(head, at, &next);
    line = head.substr(at, stop - at);
    at = next;
    if (line.empty()) break;  // the end of the head
    if (line.front() == ' ' || line.front() == '\t') return bad("folded header line");
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !isToken(line.substr(0, colon))) return bad("invalid header field");
    std::string_view name = line.substr(0, colon), value = trim(line.substr(colon + 1));
    if (!isFieldValue(value)) return bad("invalid character in the value of " + std::string(name));
    request_.fields_.push_back({span(name), span(value)});
    if (isName(name, "content-length")) {
      // A list of one value repeated ("5, 5", as some proxies write it) is that value.
      bool valid = !value.empty();
      forEachListItem(value, [&](std::string_view item) {
        if (item.size() > 18 || item.find_first_not_of("0123456789") != std::string_view::npos) valid = false;
        else if (!contentLength.empty() && contentLength != item) conflicting = true;
        else contentLength = item;
      });
      if (conflicting) return bad("conflicting Content-Length fields");
      if (!valid || contentLength.empty()) return bad("invalid Content-Length");
    } else if (isName(name, "transfer-encoding")) {
      hasTransferEncoding = true;
      forEachListItem(value, [&](std::string_view coding) {
        lastChunked = iequals(coding, "chunked");
        if (lastChunked) ++chunkedCount;
        else otherCoding = true;
      });
    } else if (isName(name, "expect")) {
      expectContinue_ = request_.version_ >= 11 && iequals(value, "100-continue");
    }
  }

  if (hasTransferEncoding) {
    if (!contentLength.empty()) return bad("both Content-Length and Transfer-Encoding");
    if (request_.version_ < 11) return bad("Transfer-Encoding in an HTTP/1.0 request");
    // RFC 9112 6.3: chunked must be the last coding, and applied once.
    if (!lastChunked || chunkedCount > 1) return bad("the last transfer coding is not chunked");
    if (otherCoding) {
      fail(501, "transfer codings other than chunked are not supported", &ignored);
      return false;
    }
    state_ = State::kChunkSize;
    return true;
  }
  uint64_t length = 0;
  for (char c : contentLength) length = length * 10 + static_cast<uint64_t>(c - '0');
  if (length > bodyLimit_) {
    fail(413, "request body larger than " + std::to_string(bodyLimit_) + " bytes", &ignored);
    return false;
  }
  if (length == 0) {
    expectContinue_ = false;
    state_ = State::kDone;
    return true;
  }
  // Room for the body as announced, up to 64 KiB: a client does not get memory for nothing.
  request_.body_.reserve(static_cast<size_t>(std::min<uint64_t>(length, 64 << 10)));
  remaining_ = length;
  state_ = State::kBody;
  return true;
}

size_t RequestParser::parseChunked(std::string_view data, Status* status) {
  size_t used = 0;
  for (;;) {
    std::string_view rest = data.substr(used);
    switch (state_) {
      case State::kChunkSize: {
        // chunk-size [ chunk-ext ] CRLF; extensions are read past.
        size_t next = 0, stop = lineEnd(rest, 0, &next);
        if ((stop == std::string_view::npos ? rest.size() : next) > kChunkLineLimit)
          return used + fail(400, "malformed HTTP request: chunk size line too long", status);
        if (stop == kBareLf) return used + fail(400, "malformed HTTP request: a line ends in LF without CR", status);
        if (stop == std::string_view::npos) {
          *status = Status::kNeedMore;
          return used;
        }
        bodyStarted_ = true;
        std::string_view line = rest.substr(0, stop);
        uint64_t size = 0;
        size_t digits = 0;
        for (; digits < line.size() && hexDigit(line[digits]) >= 0; ++digits) {
          if (digits == 15) return used + fail(400, "malformed HTTP request: chunk size too large", status);
          size = size * 16 + static_cast<uint64_t>(hexDigit(line[digits]));
        }
        std::string_view ext = trim(line.substr(digits));
        if (digits == 0 || (!ext.empty() && ext.front() != ';') || !isFieldValue(ext))
          return used + fail(400, "malformed HTTP request: invalid chunk size", status);
        used += next;
        if (size == 0) {
          state_ = State::kTrailers;
        } else if (request_.body_.size() + size > bodyLimit_) {
          return used + fail(413, "request body larger than " + std::to_string(bodyLimit_) + " bytes", status);
        } else {
          remaining_ = size;
          state_ = State::kChunkData;
        }
        break;
      }
      case State::kChunkData: {
        used += takeBody(rest);
        if (remaining_ > 0) {
          *status = Status::kNeedMore;
          return used;
        }
        state_ = State::kChunkDataEnd;
        break;
      }
      case State::kChunkDataEnd: {
        if (rest.empty() || rest == "\r") {
          *status = Status::kNeedMore;
          return used;
        }
        if (rest.substr(0, 2) != "\r\n") return used + fail(400, "malformed HTTP request: chunk data not followed by CRLF", status);
        used += 2;
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        // Trailer fields are read past (none is used); an empty line ends the request.
        size_t next = 0, stop = lineEnd(rest, 0, &next);
        if (trailerBytes_ + (stop == std::string_view::npos ? rest.size() : next) > headerLimit_)
          return used + fail(431, "request header larger than " + std::to_string(headerLimit_) + " bytes", status);
        if (stop == kBareLf) return used + fail(400, "malformed HTTP request: a line ends in LF without CR", status);
        if (stop == std::string_view::npos) {
          *status = Status::kNeedMore;
          return used;
        }
        used += next;
        trailerBytes_ += next;
        if (stop == 0) {
          state_ = State::kDone;
          *status = Status::kDone;
          return used;
        }
        if (!isFieldValue(rest.substr(0, stop))) return used + fail(400, "malformed HTTP request: invalid trailer field", status);
        break;
      }
      default:
        *status = state_ == State::kDone ? Status::kDone : Status::kError;
        return used;
    }
  }
}

}  // namespace ors::http
