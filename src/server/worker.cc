#include "server/worker.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/json/serialize.hpp>
#include <future>
#include <iostream>

#include "common/ids.h"
#include "datamodel/ecmascript/ecmascript.h"

namespace ors::server {

namespace net = boost::asio;

unsigned workerOf(std::string_view sessionId, unsigned workerCount) {
  // FNV-1a over the random part of the id.
  uint64_t h = 1469598103934665603ull;
  for (char c : sessionId) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return static_cast<unsigned>(h % workerCount);
}

Worker::Worker(unsigned index, unsigned count, const Config& config, Metrics& metrics)
    : index_(index), count_(count), config_(config), metrics_(metrics) {}

Worker::~Worker() { stop(); }

std::string Worker::newSessionId() const {
  for (;;) {
    std::string id = ors::newSessionId(config_.nodeId);
    if (workerOf(id, count_) == index_) return id;
  }
}

void Worker::start(std::function<bool(const std::string&, scxml::Event)> elsewhere) {
  elsewhere_ = std::move(elsewhere);
  std::promise<void> ready;
  auto readyFuture = ready.get_future();
  thread_ = std::thread([this, &ready] {
    dm::EcmaOptions eo;
    eo.scriptBudget = config_.scriptBudget;
    engine_ = dm::makeEcmaScriptEngine(eo);
    timer_ = std::make_unique<net::steady_timer>(ioc_);
    scxml::Runtime::Options ro;
    ro.newSessionId = [this] { return newSessionId(); };
    ro.deliverElsewhere = [this](const std::string& id, scxml::Event e) {
      if (!isSessionId(id) || workerOf(id, count_) == index_) return false;
      return elsewhere_(id, std::move(e));
    };
    ro.onRespond = [this](scxml::Session&, const std::string& requestid, const std::string& type,
                          const std::string& resultcode, const scxml::Value& params) {
      onRespond(requestid, type, resultcode, params);
    };
    ro.onLog = [](const scxml::Session& s, const std::string& label, const std::string& text) {
      std::clog << s.id() << " " << label << ": " << text << "\n";
    };
    ro.onFinished = [this](const scxml::Session&) { metrics_.sessions_ended_total.fetch_add(1); };
    runtime_ = std::make_unique<scxml::Runtime>(engine_.get(), ro);
    ready.set_value();
    run();
    pending_.clear();
    runtime_.reset();
    engine_.reset();
  });
  readyFuture.wait();
}

void Worker::run() {
  auto guard = net::make_work_guard(ioc_);
  ioc_.run();
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  net::post(ioc_, [this] {
    for (auto& [id, p] : pending_) p.reply(http::errorResponse(p.version, http::beast_http::status::service_unavailable, "server is shutting down"));
    pending_.clear();
    timer_->cancel();
    ioc_.stop();
  });
  thread_.join();
}

bool Worker::post(Job job, bool force) {
  if (ioc_.get_executor().running_in_this_thread()) {
    job(*this);
    afterJob();
    return true;
  }
  if (!force && queued_.load(std::memory_order_relaxed) >= config_.maxQueuedEvents) return false;
  queued_.fetch_add(1, std::memory_order_relaxed);
  net::post(ioc_, [this, job = std::move(job)] {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    job(*this);
    afterJob();
  });
  return true;
}

void Worker::afterJob() {
  runtime_->runUntilIdle();
  sessions_.store(runtime_->sessionCount(), std::memory_order_relaxed);
  auto due = runtime_->nextTimerDue();
  if (!due) return;
  timer_->expires_at(*due);
  timer_->async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // re-armed or cancelled
    runtime_->fireDueTimers();
    afterJob();
  });
}

void Worker::after(std::chrono::milliseconds delay, Job job) {
  auto timer = std::make_shared<net::steady_timer>(ioc_, delay);
  timer->async_wait([this, timer, job = std::move(job)](boost::system::error_code ec) {
    if (ec) return;
    job(*this);
    afterJob();
  });
}

void Worker::awaitResponse(const std::string& requestId, unsigned httpVersion, http::Reply reply) {
  auto timer = std::make_unique<net::steady_timer>(ioc_, config_.requestTimeout);
  timer->async_wait([this, requestId](boost::system::error_code ec) {
    if (ec) return;
    auto it = pending_.find(requestId);
    if (it == pending_.end()) return;
    metrics_.requests_timed_out_total.fetch_add(1);
    it->second.reply(http::errorResponse(it->second.version, http::beast_http::status::gateway_timeout,
                                         "the session did not answer request " + requestId + " in time"));
    pending_.erase(it);
  });
  pending_[requestId] = Pending{std::move(reply), httpVersion, std::move(timer)};
}

void Worker::onRespond(const std::string& requestid, const std::string& type, const std::string& resultcode,
                       const scxml::Value& params) {
  auto it = pending_.find(requestid);
  if (it == pending_.end()) return;  // already timed out, or not a request of this worker
  http::Response res{http::beast_http::status::ok, it->second.version};
  res.set(http::beast_http::field::content_type, "application/json");
  boost::json::object body{{"requestid", requestid}, {"type", type}, {"params", params}};
  if (!resultcode.empty()) body["resultcode"] = resultcode;
  res.body() = boost::json::serialize(body);
  res.prepare_payload();
  it->second.timer->cancel();
  it->second.reply(std::move(res));
  pending_.erase(it);
}

}  // namespace ors::server
