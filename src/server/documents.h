// The document cache of orsd: loads SCXML documents from `file:` URLs and paths under the
// configured document roots only (anything else is refused), compiles each once and shares it
// between its sessions; a document whose file changed (mtime or size) is recompiled for new
// sessions. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>
#include <chrono>
#include <utility>

#include "scxml/parser.h"

namespace ors::server {

class DocumentCache {
 public:
  DocumentCache(std::vector<std::string> roots, std::vector<std::string> httpAllow = {},
                std::chrono::milliseconds revalidate = std::chrono::milliseconds(1000));

  struct Loaded {
    std::shared_ptr<const scxml::Document> document;  // null on failure
    std::string error;                                 // why, naming the URL
    std::vector<scxml::Diagnostic> diagnostics;        // SCXML errors, file:line:col
  };
  Loaded load(const std::string& src);

  // http:// documents. `httpAllowed` checks the host against the allow-list. `freshHttp` is the
  // cached document if it was validated less than `revalidate` ago; otherwise the caller fetches
  // (conditionally, with `httpValidators` as If-None-Match / If-Modified-Since headers) and hands
  // the answer to `storeHttp`, which compiles a changed document or keeps the cached one on 304.
  bool httpAllowed(const std::string& url) const;
  std::shared_ptr<const scxml::Document> freshHttp(const std::string& url);
  std::vector<std::pair<std::string, std::string>> httpValidators(const std::string& url);
  Loaded storeHttp(const std::string& url, unsigned status, const std::string& body,
                   const std::vector<std::pair<std::string, std::string>>& headers);

  // A loader for documents' own references (<invoke src>, <script src>, <data src>) that obeys
  // the same rules.
  scxml::Loader loader() const;
  const std::vector<std::string>& roots() const { return roots_; }

 private:
  // The canonical path of `src` if it is a local document under a root, else an error.
  Result<std::string> resolve(const std::string& src) const;

  std::vector<std::string> roots_;  // canonical, each ending in '/'
  struct Entry {
    int64_t mtimeNs = 0;
    int64_t size = -1;
    std::shared_ptr<const scxml::Document> document;
  };
  std::vector<std::string> httpAllow_;
  std::chrono::milliseconds revalidate_;
  struct HttpEntry {
    std::string etag, lastModified;
    std::chrono::steady_clock::time_point validated;
    std::shared_ptr<const scxml::Document> document;
  };
  std::mutex mu_;
  std::map<std::string, Entry> entries_;          // guarded by mu_
  std::map<std::string, HttpEntry> httpEntries_;  // guarded by mu_
};

}  // namespace ors::server
