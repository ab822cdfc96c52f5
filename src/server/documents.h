// The document cache of orsd: loads SCXML documents from `file:` URLs and paths under the
// configured document roots only (anything else is refused), and from http:// URLs on the
// allow-list; compiles each once and shares it between its sessions. A document whose file, or
// a file it includes, changed (mtime or size; ETag or Last-Modified) is recompiled for new
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
    // http:// documents it starts by a literal src (<invoke src>, <session:start src>): the
    // caller fetches and compiles them with it, so that the loader has them at run time.
    std::vector<std::string> children;
  };
  Loaded load(const std::string& src);

  // http:// documents, fetched by the caller on its own event loop (nothing here waits for the
  // network), with the files they include. `httpAllowed` checks a host against the allow-list.
  // `freshHttp` is the compiled document if it was validated less than `revalidate` ago.
  // Otherwise the caller fetches `httpFiles(url)` (the document and what it included when last
  // compiled) conditionally (`httpValidators`), hands each answer to `storeHttpFile`, and calls
  // `compileHttp` with the texts; the files a compile needed and did not have are `missing`:
  // fetched in turn, then compiled again. A document compiled from the same texts is kept.
  bool httpAllowed(const std::string& url) const;
  std::shared_ptr<const scxml::Document> freshHttp(const std::string& url);
  std::vector<std::string> httpFiles(const std::string& url);
  std::vector<std::pair<std::string, std::string>> httpValidators(const std::string& fileUrl);
  // The file's text: the answer's body (200), or the cached text (304); an error otherwise.
  Result<std::string> storeHttpFile(const std::string& fileUrl, unsigned status, std::string body,
                                    const std::vector<std::pair<std::string, std::string>>& headers);
  Loaded compileHttp(const std::string& url, const std::map<std::string, Result<std::string>>& texts,
                     std::vector<std::string>* missing);
  // A document with children (Loaded::children) is fresh only once the caller loaded them too
  // (until then another load of it fetches them as well, so that no session of it starts
  // before its children are at hand).
  void httpChildrenLoaded(const std::string& url);

  // A loader for documents' own references (<invoke src>, <script src>, <data src>) that obeys
  // the same rules; an http:// reference is the text last fetched (a document started by a
  // literal src is fetched with the one that starts it, see Loaded::children).
  scxml::Loader loader() const;
  const std::vector<std::string>& roots() const { return roots_; }

 private:
  // The canonical path of `src` if it is a local document under a root, else an error.
  Result<std::string> resolve(const std::string& src) const;

  std::vector<std::string> roots_;  // canonical, each ending in '/'
  // A local file a compiled document was made of, as it was then.
  struct FileStamp {
    std::string path;
    int64_t mtimeNs = 0;
    int64_t size = -1;
    bool operator==(const FileStamp&) const = default;
  };
  static FileStamp stamp(const std::string& path);
  struct Entry {
    FileStamp file;
    std::vector<FileStamp> includes;  // what it included (xi:include, script/data src); checked at most every `revalidate`
    std::chrono::steady_clock::time_point includesChecked;
    std::shared_ptr<const scxml::Document> document;
  };
  std::vector<std::string> httpAllow_;
  std::chrono::milliseconds revalidate_;
  struct HttpEntry {
    std::vector<std::string> includes;  // the http:// files it was compiled from, besides itself
    std::vector<std::string> children;  // Loaded::children
    std::chrono::steady_clock::time_point validated;
    std::shared_ptr<const scxml::Document> document;
  };
  struct HttpFile {
    std::string etag, lastModified, text;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;          // guarded by mu_
  std::map<std::string, HttpEntry> httpEntries_;  // guarded by mu_
  std::map<std::string, HttpFile> httpFiles_;     // guarded by mu_
};

}  // namespace ors::server
