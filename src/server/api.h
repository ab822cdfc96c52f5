// The ORS HTTP interface (contract section 3): routing of each call to its handler, parameter
// parsing (query string, form and JSON bodies), and the answers, errors included. Called on the
// HTTP threads; everything a session does is posted to the session's worker.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <memory>
#include <vector>

#include "http/server.h"
#include "calls/service.h"
#include "server/config.h"
#include "server/documents.h"
#include "server/metrics.h"
#include "server/worker.h"

namespace ors::server {

class Api {
 public:
  Api(const Config& config, Metrics& metrics, DocumentCache& documents,
      std::vector<std::unique_ptr<Worker>>& workers);
  void handle(http::Request&& request, http::Reply reply);

  // Calls (docs/interactions.md). The node's call service, once it runs (primary only).
  void setCalls(calls::Service* calls) { calls_.store(calls, std::memory_order_release); }
  // calls::Service hooks (any thread): start a call's session unless it exists, then deliver its
  // events; deliver an event to a call's session. `done(durable)` once the effect is stored.
  void startCall(calls::CallStart start, std::function<void(bool)> done);
  void deliverCall(const std::string& sessionId, const calls::Entry& entry, std::function<void(bool)> done);

 private:
  struct Call;
  void start(Call& call);
  void startDocument(std::shared_ptr<Call> call, std::shared_ptr<const scxml::Document> document,
                     boost::json::object data, std::chrono::milliseconds delay, Worker& w);
  void sessionCall(std::shared_ptr<Call> call, std::string_view sessionId, std::string_view verb, std::string_view name);
  void runSessionCall(Worker& w, const std::shared_ptr<Call>& call, uint64_t requestNo);
  void listSessions(Call& call);
  void callEvents(std::shared_ptr<Call> call);
  void callReplies(std::shared_ptr<Call> call);
  void submitInteraction(std::shared_ptr<Call> call);
  // A document by URL (file: under the roots, or http://, fetched on `w`'s loop), then `then`.
  // An http:// document's children (Loaded::children) are loaded before `then`, each once
  // (`seen`: the documents of this load, against cycles).
  void loadDocument(const std::string& url, Worker& w, std::function<void(DocumentCache::Loaded)> then,
                    std::shared_ptr<std::set<std::string>> seen = nullptr);
  // An http:// document being fetched with the files it includes (on one worker's loop).
  struct HttpLoad {
    std::string url;
    std::map<std::string, Result<std::string>> texts;  // by URL: the text, or why it could not be had
    size_t pending = 0;
    int rounds = 0;
    std::chrono::steady_clock::time_point started;
    std::function<void(DocumentCache::Loaded)> then;
  };
  void fetchHttpFiles(std::shared_ptr<HttpLoad> load, std::vector<std::string> files, Worker& w);
  template <class F>
  void answerWhenDurable(Worker& w, const std::shared_ptr<Call>& call, F&& ok);
  Worker& workerFor(const std::string& sessionId);

  const Config& config_;
  Metrics& metrics_;
  DocumentCache& documents_;
  std::vector<std::unique_ptr<Worker>>& workers_;
  std::atomic<uint64_t> nextRequest_{0};
  std::atomic<calls::Service*> calls_{nullptr};
};

}  // namespace ors::server
