#include "http/client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <memory>

namespace ors::http {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

bool parseHttpUrl(const std::string& url, ParsedUrl* out) {
  constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) return false;
  std::string rest = url.substr(kScheme.size());
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  out->target = slash == std::string::npos ? "/" : rest.substr(slash);
  if (authority.empty() || authority.find('@') != std::string::npos) return false;
  size_t colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    out->host = authority.substr(0, colon);
    out->port = authority.substr(colon + 1);
    if (out->port.empty() || out->port.find_first_not_of("0123456789") != std::string::npos) return false;
  } else {
    out->host = authority;
  }
  return !out->host.empty();
}

namespace {

class PostOp : public std::enable_shared_from_this<PostOp> {
 public:
  PostOp(net::io_context& ioc, beast::http::verb method, ParsedUrl url, std::string body, std::string type,
         std::chrono::milliseconds timeout, std::function<void(ClientResponse)> done)
      : resolver_(ioc), stream_(ioc), url_(std::move(url)), timeout_(timeout), done_(std::move(done)) {
    parser_.body_limit(8u << 20);
    req_.method(method);
    req_.target(url_.target);
    req_.version(11);
    req_.set(beast::http::field::host, url_.host + ":" + url_.port);
    if (!type.empty()) req_.set(beast::http::field::content_type, type);
    req_.set(beast::http::field::connection, "close");
    req_.body() = std::move(body);
    req_.prepare_payload();
  }

  void header(const std::string& name, const std::string& value) { req_.set(name, value); }

  void start() {
    resolver_.async_resolve(url_.host, url_.port, [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) return self->finish(0, "cannot resolve " + self->url_.host + ": " + ec.message());
      self->stream_.expires_after(self->timeout_);
      self->stream_.async_connect(r, [self](beast::error_code ec2, const tcp::endpoint&) {
        if (ec2) return self->finish(0, "cannot connect: " + ec2.message());
        beast::http::async_write(self->stream_, self->req_, [self](beast::error_code ec3, size_t) {
          if (ec3) return self->finish(0, "cannot send: " + ec3.message());
          beast::http::async_read(self->stream_, self->buffer_, self->parser_, [self](beast::error_code ec4, size_t) {
            if (ec4) return self->finish(0, "no response: " + ec4.message());
            self->finish(self->parser_.get().result_int(), {});
          });
        });
      });
    });
  }

 private:
  void finish(unsigned status, const std::string& error) {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    ClientResponse r;
    r.status = status;
    r.error = error;
    if (status) {
      auto& res = parser_.get();
      r.body = std::move(res.body());
      for (const auto& f : res) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    }
    if (done_) done_(std::move(r));
    done_ = nullptr;
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  ParsedUrl url_;
  std::chrono::milliseconds timeout_;
  std::function<void(ClientResponse)> done_;
  beast::http::request<beast::http::string_body> req_;
  beast::flat_buffer buffer_;
  beast::http::response_parser<beast::http::string_body> parser_;
};

}  // namespace

namespace {

void requestOnce(net::io_context& ioc, const std::string& method, const std::string& url, std::string body,
                 std::string contentType, std::chrono::milliseconds timeout, std::function<void(ClientResponse)> done,
                 const std::vector<std::pair<std::string, std::string>>& headers) {
  ParsedUrl u;
  if (!parseHttpUrl(url, &u)) {
    net::post(ioc, [done, url] {
      ClientResponse r;
      r.error = "not an http:// URL: '" + url + "'";
      done(std::move(r));
    });
    return;
  }
  beast::http::verb verb = beast::http::string_to_verb(method);
  if (verb == beast::http::verb::unknown) verb = beast::http::verb::get;
  auto op = std::make_shared<PostOp>(ioc, verb, std::move(u), std::move(body), std::move(contentType), timeout, std::move(done));
  for (const auto& [k, v] : headers) op->header(k, v);
  op->start();
}

// The Location of a redirect, made absolute against the URL that answered it.
std::string resolveLocation(const std::string& from, const std::string& location) {
  if (location.rfind("http://", 0) == 0 || location.rfind("https://", 0) == 0) return location;
  ParsedUrl u;
  if (!parseHttpUrl(from, &u)) return location;
  std::string base = "http://" + u.host + ":" + u.port;
  if (!location.empty() && location[0] == '/') return base + location;
  return base + u.target.substr(0, u.target.rfind('/') + 1) + location;
}

}  // namespace

// 307 and 308 are followed (at most 5 times) with the same method and body, and with the
// cookies the redirect set (ORS contract 4: the owner finds the session from the path anyway).
void request(net::io_context& ioc, const std::string& method, const std::string& url, std::string body,
             std::string contentType, std::chrono::milliseconds timeout, std::function<void(ClientResponse)> done,
             const std::vector<std::pair<std::string, std::string>>& headers) {
  struct Follow {
    net::io_context& ioc;
    std::string method, body, contentType;
    std::chrono::milliseconds timeout;
    std::function<void(ClientResponse)> done;
    std::vector<std::pair<std::string, std::string>> headers;
    int hops = 0;
    void go(const std::string& url) {
      auto self = std::make_shared<Follow>(*this);
      requestOnce(ioc, method, url, body, contentType, timeout, [self, url](ClientResponse r) {
        if ((r.status == 307 || r.status == 308) && self->hops < 5) {
          std::string location, cookie;
          for (const auto& [k, v] : r.headers) {
            if (beast::iequals(k, "location")) location = v;
            if (beast::iequals(k, "set-cookie")) cookie = v.substr(0, v.find(';'));
          }
          if (!location.empty()) {
            ++self->hops;
            if (!cookie.empty()) {
              bool replaced = false;
              for (auto& [k, v] : self->headers)
                if (beast::iequals(k, "cookie")) v = cookie, replaced = true;
              if (!replaced) self->headers.emplace_back("Cookie", cookie);
            }
            return self->go(resolveLocation(url, location));
          }
        }
        self->done(std::move(r));
      }, headers);
    }
  };
  Follow{ioc, method, std::move(body), std::move(contentType), timeout, std::move(done), headers}.go(url);
}

void post(net::io_context& ioc, const std::string& url, std::string body, std::string contentType,
          std::chrono::milliseconds timeout, std::function<void(unsigned, const std::string&)> done) {
  request(ioc, "POST", url, std::move(body), std::move(contentType), timeout,
          [done = std::move(done)](ClientResponse r) { done(r.status, r.error); });
}

}  // namespace ors::http
