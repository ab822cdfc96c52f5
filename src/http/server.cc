#include "http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/json/serialize.hpp>
#include <optional>

namespace ors::http {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

Response errorResponse(beast_http::status status, const std::string& message) {
  Response res{status};
  res.set(beast_http::field::content_type, "application/json");
  res.body() = boost::json::serialize(boost::json::object{{"error", message}});
  return res;
}

namespace {

// One client connection. Reads with the socket's own async_read_some into a buffer that the
// RequestParser reads from, and keeps one idle timer armed for the connection's life rather than
// one per read and write: the composed read of beast::tcp_stream re-armed a timer on every
// operation and cost about a fifth of a keep-alive event's instructions. Every handler runs on the connection's
// executor (one thread, or a strand). What keeps a connection alive is its pending read or
// write, or the Reply of the request being served; the timer only watches (a Reply dropped
// unanswered closes the connection, as the client needs to see).
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, const ServerOptions& options, const Handler& handler)
      : socket_(std::move(socket)), idle_(socket_.get_executor()), options_(options), handler_(handler) {
    net::any_io_executor ex = socket_.get_executor();
    if (const auto* io = ex.target<net::io_context::executor_type>()) ownContext_.emplace(*io);
  }

  void start() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->socket_.non_blocking(true, ec);
      self->direct_ = !ec;  // write() tries a direct send first, never a blocking one
      self->armIdle(self->options_.idleTimeout);
      self->next();
    });
  }

 private:
  using Clock = std::chrono::steady_clock;

  // Closes the connection when a request has not arrived in full, or an answer has not been
  // written, within the configured time of its start (as beast::tcp_stream's timeouts did: a
  // client trickling a byte now and then does not hold a connection forever). No limit applies
  // while a request is being served.
  void armIdle(Clock::duration after) {
    idle_.expires_after(after);
    idle_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      std::shared_ptr<Connection> self = weak.lock();
      if (ec || !self || self->closed_) return;
      if (self->serving_) return self->armIdle(self->options_.idleTimeout);
      Clock::duration quiet = Clock::now() - self->lastActive_;
      if (quiet < self->options_.idleTimeout) return self->armIdle(self->options_.idleTimeout - quiet);
      self->close();
    });
  }

  // The next request: parsed from what is buffered already (a pipelining client), else read.
  void next() {
    lastActive_ = Clock::now();
    parser_.emplace(options_.headerLimit, options_.bodyLimit);
    continued_ = false;
    headRequest_ = false;
    if (buffer_.size() > 0) return parse();
    read();
  }

  void read() {
    constexpr size_t kChunk = 4096;
    socket_.async_read_some(buffer_.prepare(kChunk), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (self->closed_) return;  // closed by the timer with this completion already queued
      if (ec) {
        // The client stopped sending in the middle of a request: it may still read the answer.
        if (ec == net::error::eof && self->parser_->gotSome())
          return self->fail(400, "malformed HTTP request: the connection was closed in the middle of a request");
        return self->close();
      }
      self->buffer_.commit(n);
      self->parse();
    });
  }

  void parse() {
    RequestParser::Status status;
    auto data = buffer_.data();
    size_t used = parser_->put(std::string_view(static_cast<const char*>(data.data()), data.size()), &status);
    buffer_.consume(used);
    if (status == RequestParser::Status::kError) return fail(parser_->errorStatus(), parser_->errorMessage());
    if (status == RequestParser::Status::kNeedMore) {
      if (parser_->expectsContinue() && !continued_) sendContinue();
      return read();
    }
    Request req = parser_->release();
    keepAlive_ = req.keepAlive();
    version_ = req.version();
    headRequest_ = req.method() == beast_http::verb::head;
    serving_ = true;
    auto self = shared_from_this();
    handler_(std::move(req), [self](Response res) {
      if (self->onOwnThread()) return self->write(std::move(res));
      net::dispatch(self->socket_.get_executor(), [self, res = std::move(res)]() mutable { self->write(std::move(res)); });
    });
  }

  // "100 Continue" to a client that waits for it before sending the body (curl does, for a
  // second). Sent directly: a new connection's socket takes it whole. Should it not, the rest goes
  // out ahead of the answer and the client sends its body after its own wait; so it does without
  // a non-blocking socket.
  void sendContinue() {
    continued_ = true;
    if (!direct_) return;
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    beast::error_code ec;
    size_t sent = socket_.write_some(net::buffer(kContinue.data(), kContinue.size()), ec);
    if (ec) sent = 0;
    interim_ = kContinue.substr(sent);
  }

  // Whether this runs on the connection's own thread (a worker's io_context), where an answer is
  // written at once: going through dispatch on the type-erased executor costs ~1k instructions.
  bool onOwnThread() const { return ownContext_ && ownContext_->running_in_this_thread(); }

  // Malformed or oversized: answer once, then close this connection only.
  void fail(unsigned status, const std::string& message) {
    keepAlive_ = false;
    write(errorResponse(static_cast<beast_http::status>(status), message));
  }

  void write(Response res) {
    serving_ = false;
    if (closed_) return;
    // Serialised into one buffer: one send.
    std::string& out = out_;
    out.clear();
    out.reserve(160 + res.body().size());
    out += interim_;  // what is left of a "100 Continue"
    interim_.clear();
    res.writeTo(out, version_, keepAlive_, headRequest_);
    lastActive_ = Clock::now();
    // A direct send first: a small response to a reading client goes out at once, without a
    // trip through the event loop; what the socket does not take is written asynchronously.
    size_t sent = 0;
    if (direct_) {
      beast::error_code ec;
      sent = socket_.write_some(net::buffer(out), ec);
      if (ec == net::error::would_block || ec == net::error::try_again) {
        sent = 0;
      } else if (ec) {
        return close();
      }
      if (sent == out.size()) return written();
    }
    net::async_write(socket_, net::buffer(out.data() + sent, out.size() - sent),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       if (self->closed_) return;
                       if (ec) return self->close();
                       self->written();
                     });
  }

  void written() {
    if (!keepAlive_) return lingerThenClose();
    // A request already buffered (pipelining) is started from the event loop, never from inside
    // the Reply that answered the previous one: its handler would run within the caller's work
    // (in orsd, inside the session's step that gave the answer).
    if (buffer_.size() > 0) return net::post(socket_.get_executor(), [self = shared_from_this()] {
        if (!self->closed_) self->next();
      });
    next();
  }

  // The end of a connection after its last answer. Closing a socket with bytes still to read makes
  // the kernel send a reset, and many clients' stacks drop an answer not read yet when a reset
  // comes (a client still sending a refused body is the usual case). So: end our side, then read
  // and drop what the client still sends, until it closes too or kLinger has passed.
  void lingerThenClose() {
    static constexpr std::chrono::seconds kLinger{2};
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    idle_.expires_after(kLinger);  // the idle watch ends (its wait completes as aborted)
    idle_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      if (std::shared_ptr<Connection> self = weak.lock(); self && !ec) self->close();
    });
    drain();
  }

  void drain() {
    buffer_.clear();
    socket_.async_read_some(buffer_.prepare(16 << 10), [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->closed_) return;
      if (ec) return self->close();  // the client's end (or the connection's)
      self->drain();
    });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    idle_.cancel();
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  std::optional<net::io_context::executor_type> ownContext_;  // when the executor is a plain io_context's
  net::steady_timer idle_;
  const ServerOptions& options_;
  const Handler& handler_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  std::string out_;      // the response being written
  std::string interim_;  // the unsent rest of a "100 Continue", written ahead of the answer
  Clock::time_point lastActive_;
  bool serving_ = false;  // a request is with the handler: no idle timeout
  bool closed_ = false;
  bool direct_ = false;   // the socket is in non-blocking mode: answers may be sent directly
  bool keepAlive_ = true;
  bool continued_ = false;  // "100 Continue" was sent for this request
  bool headRequest_ = false;  // the answer goes without its body
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
