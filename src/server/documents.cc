#include "server/documents.h"

#include "http/client.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <strings.h>
#include <cstdlib>

namespace ors::server {

namespace {

std::string canonical(const std::string& path) {
  char buf[PATH_MAX];
  if (!realpath(path.c_str(), buf)) return {};
  return buf;
}

// `rest` (a relative path) under the folder `base`, each missing name matched without regard to
// case when exactly one entry of its folder matches: projects written on Windows refer to
// `Main3.scxml` as the file `main3.scxml`, which the vendor's web servers there serve. Empty when
// no such file.
std::string caseInsensitivePath(std::string base, const std::string& rest) {
  size_t at = 0;
  while (at <= rest.size()) {
    size_t slash = rest.find('/', at);
    std::string name = rest.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
    at = slash == std::string::npos ? rest.size() + 1 : slash + 1;
    if (name.empty() || name == ".") continue;
    struct stat st;
    std::string exact = base + (base.empty() || base.back() == '/' ? "" : "/") + name;
    if (name == ".." || ::stat(exact.c_str(), &st) == 0) {
      base = exact;
      continue;
    }
    DIR* dir = ::opendir(base.empty() ? "." : base.c_str());
    if (!dir) return {};
    std::string found;
    int matches = 0;
    while (dirent* e = ::readdir(dir))
      if (::strcasecmp(e->d_name, name.c_str()) == 0 && ++matches == 1) found = e->d_name;
    ::closedir(dir);
    if (matches != 1) return {};
    base += (base.empty() || base.back() == '/' ? "" : "/") + found;
  }
  return base;
}

}  // namespace

DocumentCache::DocumentCache(std::vector<std::string> roots, std::vector<std::string> httpAllow,
                             std::chrono::milliseconds revalidate)
    : httpAllow_(std::move(httpAllow)), revalidate_(revalidate) {
  if (roots.empty()) roots.push_back(".");
  for (const std::string& r : roots) {
    std::string c = canonical(r);
    if (c.empty()) continue;
    if (c.back() != '/') c += '/';
    roots_.push_back(c);
  }
}

Result<std::string> DocumentCache::resolve(const std::string& src) const {
  std::string path = src;
  if (path.rfind("file://", 0) == 0) path = path.substr(7);
  else if (path.rfind("file:", 0) == 0) path = path.substr(5);
  else if (path.find("://") != std::string::npos)
    return Status::error("only file: documents under the document roots can be loaded, not '" + src + "'");
  if (path.empty()) return Status::error("empty document path");
  std::vector<std::pair<std::string, std::string>> candidates;  // (folder, path in it)
  if (path[0] == '/') candidates.emplace_back("/", path.substr(1));
  else
    for (const std::string& root : roots_) candidates.emplace_back(root, path);
  // The path as written first; only when no root has it, names matched without regard to case.
  for (bool exact : {true, false}) {
    for (const auto& [folder, rest] : candidates) {
      std::string canon = canonical(exact ? folder + rest : caseInsensitivePath(folder, rest));
      if (canon.empty()) continue;
      for (const std::string& root : roots_)
        if (canon.rfind(root, 0) == 0) return canon;
      return Status::error("'" + src + "' is outside the document roots");
    }
  }
  return Status::error("cannot open '" + src + "': no such file under the document roots");
}

scxml::Loader DocumentCache::loader() const {
  return [this](const std::string& url) -> Result<std::string> {
    if (url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0) {
      if (!httpAllowed(url)) return Status::error("'" + url + "' is not an allowed document host (orchestration/http-allow)");
      std::lock_guard<std::mutex> lock(mu_);
      auto it = httpFiles_.find(url);
      if (it == httpFiles_.end())
        return Status::error("'" + url + "' was not fetched (only a literal src is fetched with its document)");
      return it->second.text;
    }
    Result<std::string> path = resolve(url);
    if (!path) return path.status();
    return scxml::loadLocalFile(*path);
  };
}

bool DocumentCache::httpAllowed(const std::string& url) const {
  http::ParsedUrl u;
  if (!http::parseHttpUrl(url, &u)) return false;
  if (httpAllow_.empty()) return true;
  for (const std::string& a : httpAllow_)
    if (a == u.host || a == u.host + ":" + u.port) return true;
  return false;
}

std::shared_ptr<const scxml::Document> DocumentCache::freshHttp(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = httpEntries_.find(url);
  if (it == httpEntries_.end() || std::chrono::steady_clock::now() - it->second.validated > revalidate_) return nullptr;
  return it->second.document;
}

void DocumentCache::httpChildrenLoaded(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = httpEntries_.find(url); it != httpEntries_.end()) it->second.validated = std::chrono::steady_clock::now();
}

std::vector<std::string> DocumentCache::httpFiles(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> files{url};
  if (auto it = httpEntries_.find(url); it != httpEntries_.end())
    files.insert(files.end(), it->second.includes.begin(), it->second.includes.end());
  return files;
}

std::vector<std::pair<std::string, std::string>> DocumentCache::httpValidators(const std::string& fileUrl) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, std::string>> h;
  auto it = httpFiles_.find(fileUrl);
  if (it == httpFiles_.end()) return h;
  if (!it->second.etag.empty()) h.emplace_back("If-None-Match", it->second.etag);
  if (!it->second.lastModified.empty()) h.emplace_back("If-Modified-Since", it->second.lastModified);
  return h;
}

Result<std::string> DocumentCache::storeHttpFile(const std::string& fileUrl, unsigned status, std::string body,
                                                 const std::vector<std::pair<std::string, std::string>>& headers) {
  std::lock_guard<std::mutex> lock(mu_);
  if (status == 304) {
    if (auto it = httpFiles_.find(fileUrl); it != httpFiles_.end()) return it->second.text;
  }
  if (status != 200) return Status::error("cannot fetch '" + fileUrl + "': HTTP status " + std::to_string(status));
  HttpFile f;
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "ETag") == 0) f.etag = v;
    if (strcasecmp(k.c_str(), "Last-Modified") == 0) f.lastModified = v;
  }
  f.text = std::move(body);
  HttpFile& slot = httpFiles_[fileUrl];
  slot = std::move(f);
  return slot.text;
}

DocumentCache::Loaded DocumentCache::compileHttp(const std::string& url,
                                                 const std::map<std::string, Result<std::string>>& texts,
                                                 std::vector<std::string>* missing) {
  Loaded out;
  auto main = texts.find(url);
  if (main == texts.end() || !main->second) {
    out.error = main == texts.end() ? "cannot fetch '" + url + "'" : main->second.status().message();
    return out;
  }
  // Kept when it was compiled from these very texts (each document judges for itself: files
  // are shared between documents, and a compile may have failed since).
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = httpEntries_.find(url);
    auto same = [&](const scxml::Document& d) {
      if (d.source != *main->second) return false;
      for (const auto& [u, text] : d.loaded) {
        auto t = texts.find(u);
        if (t == texts.end() || !t->second || *t->second != text) return false;
      }
      return true;
    };
    if (it != httpEntries_.end() && same(*it->second.document)) {
      // (With children it is fresh only once they are loaded too: httpChildrenLoaded.)
      if (it->second.children.empty()) it->second.validated = std::chrono::steady_clock::now();
      out.document = it->second.document;
      out.children = it->second.children;
      return out;
    }
  }
  std::vector<std::string> children;
  // References inside it: the fetched http:// files, local documents under the roots.
  std::vector<std::string> used;
  scxml::ParseOptions po;
  po.url = url;
  po.loader = [&, local = loader()](const std::string& ref) -> Result<std::string> {
    if (ref.rfind("http://", 0) != 0 && ref.rfind("https://", 0) != 0) return local(ref);
    if (!httpAllowed(ref)) return Status::error("'" + ref + "' is not an allowed document host (orchestration/http-allow)");
    auto it = texts.find(ref);
    if (it == texts.end()) {
      if (std::find(missing->begin(), missing->end(), ref) == missing->end()) missing->push_back(ref);
      return Status::error("not fetched yet");
    }
    if (std::find(used.begin(), used.end(), ref) == used.end()) used.push_back(ref);
    return it->second;
  };
  po.childDocument = [&](const std::string& child) {
    if ((child.rfind("http://", 0) == 0 || child.rfind("https://", 0) == 0) && httpAllowed(child) &&
        std::find(children.begin(), children.end(), child) == children.end())
      children.push_back(child);
  };
  scxml::ParseResult r = scxml::parseDocument(*main->second, po);
  if (!missing->empty()) return out;
  if (!r.document) {
    out.error = "invalid SCXML document '" + url + "'";
    out.diagnostics = std::move(r.errors);
    return out;
  }
  HttpEntry e;
  e.includes = std::move(used);
  e.children = children;
  out.children = std::move(children);
  if (children.empty()) e.validated = std::chrono::steady_clock::now();  // else httpChildrenLoaded
  e.document = r.document;
  std::lock_guard<std::mutex> lock(mu_);
  httpEntries_[url] = std::move(e);
  out.document = r.document;
  return out;
}

DocumentCache::FileStamp DocumentCache::stamp(const std::string& path) {
  FileStamp f;
  f.path = path;
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return f;
  f.mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  f.size = st.st_size;
  return f;
}

DocumentCache::Loaded DocumentCache::load(const std::string& src) {
  Loaded out;
  Result<std::string> path = resolve(src);
  if (!path) {
    out.error = path.status().message();
    return out;
  }
  FileStamp file = stamp(*path);
  if (file.size < 0) {
    out.error = "cannot open '" + src + "'";
    return out;
  }
  std::vector<FileStamp> includes;
  bool cached = false;
  auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(*path);
    if (it != entries_.end() && it->second.file == file) {
      if (now - it->second.includesChecked < revalidate_) {
        out.document = it->second.document;
        return out;
      }
      includes = it->second.includes;
      cached = true;
    }
  }
  // The files it includes are looked at once in a while (a stat each), outside the lock.
  if (cached && std::all_of(includes.begin(), includes.end(), [](const FileStamp& f) { return stamp(f.path) == f; })) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(*path);
    if (it != entries_.end() && it->second.file == file) {
      it->second.includesChecked = now;
      out.document = it->second.document;
      return out;
    }
  }
  std::vector<FileStamp> used;
  scxml::ParseOptions po;
  po.loader = [this, &used](const std::string& ref) -> Result<std::string> {
    Result<std::string> p = resolve(ref);
    if (!p) return p.status();
    used.push_back(stamp(*p));
    return scxml::loadLocalFile(*p);
  };
  scxml::ParseResult r = scxml::loadDocument(*path, po);
  if (!r.document) {
    out.error = "invalid SCXML document '" + src + "'";
    out.diagnostics = std::move(r.errors);
    return out;
  }
  // The document itself was the loader's first file.
  if (!used.empty()) used.erase(used.begin());
  std::lock_guard<std::mutex> lock(mu_);
  entries_[*path] = {file, std::move(used), now, r.document};
  out.document = r.document;
  return out;
}

}  // namespace ors::server
