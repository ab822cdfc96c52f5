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

#include "scxml/parser.h"

namespace ors::server {

class DocumentCache {
 public:
  explicit DocumentCache(std::vector<std::string> roots);

  struct Loaded {
    std::shared_ptr<const scxml::Document> document;  // null on failure
    std::string error;                                 // why, naming the URL
    std::vector<scxml::Diagnostic> diagnostics;        // SCXML errors, file:line:col
  };
  Loaded load(const std::string& src);

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
  std::mutex mu_;
  std::map<std::string, Entry> entries_;  // guarded by mu_
};

}  // namespace ors::server
