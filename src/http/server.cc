#include "http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

namespace ors::http {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Response errorResponse(unsigned version, beast_http::status status, const std::string& message) {
  Response res{status, version};
  res.set(beast_http::field::content_type, "application/json");
  res.body() = boost::json::serialize(boost::json::object{{"error", message}});
  res.prepare_payload();
  return res;
}

namespace {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, const ServerOptions& options, const Handler& handler)
      : stream_(std::move(socket)), options_(options), handler_(handler) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read(); });
  }

 private:
  void read() {
    parser_.emplace();
    parser_->body_limit(options_.bodyLimit);
    parser_->header_limit(static_cast<uint32_t>(options_.headerLimit));
    stream_.expires_after(options_.idleTimeout);
    beast_http::async_read(stream_, buffer_, *parser_,
                           [self = shared_from_this()](beast::error_code ec, size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == beast_http::error::end_of_stream || ec == net::error::eof || ec == beast::error::timeout ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return close();
    }
    if (ec) {
      // Malformed or oversized: answer once, then close this connection only.
      beast_http::status st = beast_http::status::bad_request;
      std::string why = "malformed HTTP request: " + ec.message();
      if (ec == beast_http::error::body_limit) {
        st = beast_http::status::payload_too_large;
        why = "request body larger than " + std::to_string(options_.bodyLimit) + " bytes";
      } else if (ec == beast_http::error::header_limit) {
        st = beast_http::status::request_header_fields_too_large;
        why = "request header larger than " + std::to_string(options_.headerLimit) + " bytes";
      }
      keepAlive_ = false;
      return write(errorResponse(11, st, why));
    }
    Request req = parser_->release();
    keepAlive_ = req.keep_alive();
    version_ = req.version();
    stream_.expires_never();
    auto self = shared_from_this();
    handler_(std::move(req), [self](Response res) {
      net::dispatch(self->stream_.get_executor(), [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }

  void write(Response res) {
    res.version(version_);
    res.keep_alive(keepAlive_);
    if (!res.has_content_length() && !res.chunked()) res.prepare_payload();
    // Serialised by hand into one buffer: one sendmsg, and much cheaper than Beast's generic
    // buffer-sequence serializer for these small responses.
    std::string& out = out_;
    out.clear();
    out.reserve(160 + res.body().size());
    out += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    out += std::to_string(res.result_int());
    out += ' ';
    out.append(res.reason().data(), res.reason().size());
    out += "\r\n";
    for (const auto& f : res) {
      out.append(f.name_string().data(), f.name_string().size());
      out += ": ";
      out.append(f.value().data(), f.value().size());
      out += "\r\n";
    }
    out += "\r\n";
    out += res.body();
    stream_.expires_after(options_.idleTimeout);
    net::async_write(stream_, net::buffer(out), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->keepAlive_) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  const ServerOptions& options_;
  const Handler& handler_;
  beast::flat_buffer buffer_;
  std::optional<beast_http::request_parser<beast_http::string_body>> parser_;
  std::string out_;  // the response being written
  bool keepAlive_ = true;
  unsigned version_ = 11;
};

}  // namespace

class Server::Impl : public std::enable_shared_from_this<Server::Impl> {
 public:
  Impl(net::io_context& ioc, ServerOptions options, Handler handler)
      : ioc_(ioc), acceptor_(net::make_strand(ioc)), options_(std::move(options)), handler_(std::move(handler)) {}

  std::string start() {
    beast::error_code ec;
    auto addr = net::ip::make_address(options_.address, ec);
    if (ec) return "invalid listen address '" + options_.address + "'";
    tcp::endpoint ep(addr, options_.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return "cannot listen on " + options_.address + ":" + std::to_string(options_.port) + ": " + ec.message();
    port_ = acceptor_.local_endpoint().port();
    accept();
    return {};
  }

  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ignored;
      self->acceptor_.close(ignored);
    });
  }

  uint16_t port_ = 0;

 private:
  void accept() {
    auto exec = options_.connectionExecutor ? options_.connectionExecutor() : net::any_io_executor(net::make_strand(ioc_));
    acceptor_.async_accept(exec, [self = shared_from_this()](beast::error_code ec, tcp::socket s) {
      if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
      if (!ec) {
        s.set_option(tcp::no_delay(true), ec);
        std::make_shared<Connection>(std::move(s), self->options_, self->handler_)->start();
      }
      self->accept();
    });
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  ServerOptions options_;
  Handler handler_;
};

Server::Server(net::io_context& ioc, ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(ioc, std::move(options), std::move(handler))) {}
Server::~Server() = default;
std::string Server::start() { return impl_->start(); }
void Server::stop() { impl_->stop(); }
uint16_t Server::port() const { return impl_->port_; }

}  // namespace ors::http
