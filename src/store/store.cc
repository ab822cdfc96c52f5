#include "store/store.h"

#include "common/thread_name.h"

namespace ors::store {

void GroupCommitStore::startWriter() {
  writer_ = std::thread([this] {
    nameThread("ors-store");
    writerLoop();
  });
}

void GroupCommitStore::submit(Batch batch) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(std::move(batch));
      cv_.notify_one();
      return;
    }
  }
  if (batch.done) batch.done(Status::error("the session store is closed"));
}

void GroupCommitStore::load(const std::string& id, std::function<void(Result<SessionRecord>)> done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      reads_.push_back(Read{id, std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(Status::error("the session store is closed"));
}

void GroupCommitStore::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_one();
  }
  if (writer_.joinable()) writer_.join();
}

void GroupCommitStore::writerLoop() {
  for (;;) {
    std::deque<Batch> batches;
    std::vector<Read> reads;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !reads_.empty(); });
      if (queue_.empty() && reads_.empty()) return;  // stopping, and nothing left
      batches.swap(queue_);
      reads.swap(reads_);
    }
    Round round;
    for (const Batch& b : batches) {
      for (const DocumentRecord& d : b.documents) round.documents.push_back(&d);
      for (const SessionRecord& r : b.put) {
        round.puts[r.id] = &r;
        round.erases.erase(r.id);
      }
      for (const std::string& id : b.erase) {
        round.puts.erase(id);
        round.erases.insert(id);
      }
    }
    Status st = round.empty() ? Status::ok() : write(round);
    for (Batch& b : batches)
      if (b.done) b.done(st);
    for (Read& r : reads) r.done(read(r.id));
  }
}

}  // namespace ors::store
