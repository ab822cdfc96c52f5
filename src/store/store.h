// Where sessions live across crashes: the session store. orsd writes a session's record after
// each of its steps and answers the call that caused the step only once the record is durable.
// Implementations: SQLite in the data directory (sqlite_store.h, the default); Redis Cluster
// (the cluster issue).
//
// Threading: submit() may be called from any thread; a batch's `done` runs on the store's writer
// thread, once its writes are durable or have failed. load* are for start-up, before submit().
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/status.h"

namespace ors::store {

struct SessionRecord {
  std::string id;
  std::string docHash;  // the document's (Document::hash), whose text is in the document table
  std::string state;    // JSON text: the session's snapshot and pending delayed sends
};

struct DocumentRecord {
  std::string hash;
  std::string url;
  std::string source;
};

struct Batch {
  std::vector<SessionRecord> put;   // insert or replace
  std::vector<std::string> erase;   // sessions that ended
  std::vector<DocumentRecord> documents;  // insert if absent
  std::function<void(const Status&)> done;
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;
  // Queues a batch; batches are written in submission order, several per transaction.
  virtual void submit(Batch batch) = 0;
  // One session's record, read after every batch submitted before; `done` runs on the store's
  // thread (an error when there is no such session).
  virtual void load(const std::string& id, std::function<void(Result<SessionRecord>)> done) = 0;
  // Start-up: every stored session and document.
  virtual Status loadSessions(const std::function<void(SessionRecord&&)>& each) = 0;
  virtual Status loadDocuments(const std::function<void(DocumentRecord&&)>& each) = 0;
  // Stops the writer after the batches already submitted.
  virtual void close() = 0;
};

// What the stores share: the queue, and one writer thread that takes every batch queued since
// its last round and writes them together (group commit), then serves the reads queued meanwhile
// (so a read sees every batch submitted before it). Implementations write a round and read one
// record; call startWriter() once open, and close() before they are destroyed.
class GroupCommitStore : public SessionStore {
 public:
  void submit(Batch batch) override;
  void load(const std::string& id, std::function<void(Result<SessionRecord>)> done) override;
  void close() override;

 protected:
  // A round, merged: a session put or erased several times in it is written once, as its last
  // batch left it.
  struct Round {
    std::unordered_map<std::string_view, const SessionRecord*> puts;
    std::unordered_set<std::string_view> erases;
    std::vector<const DocumentRecord*> documents;
    bool empty() const { return puts.empty() && erases.empty() && documents.empty(); }
  };
  virtual Status write(const Round& round) = 0;
  virtual Result<SessionRecord> read(const std::string& id) = 0;
  void startWriter();

 private:
  void writerLoop();
  struct Read {
    std::string id;
    std::function<void(Result<SessionRecord>)> done;
  };
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  std::vector<Read> reads_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace ors::store
