#include "server/documents.h"

#include "http/client.h"

#include <sys/stat.h>

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
  std::vector<std::string> candidates;
  if (path[0] == '/') candidates.push_back(path);
  else
    for (const std::string& root : roots_) candidates.push_back(root + path);
  for (const std::string& c : candidates) {
    std::string canon = canonical(c);
    if (canon.empty()) continue;
    for (const std::string& root : roots_)
      if (canon.rfind(root, 0) == 0) return canon;
    return Status::error("'" + src + "' is outside the document roots");
  }
  return Status::error("cannot open '" + src + "': no such file under the document roots");
}

scxml::Loader DocumentCache::loader() const {
  return [this](const std::string& url) -> Result<std::string> {
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

std::vector<std::pair<std::string, std::string>> DocumentCache::httpValidators(const std::string& url) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::string, std::string>> h;
  auto it = httpEntries_.find(url);
  if (it == httpEntries_.end()) return h;
  if (!it->second.etag.empty()) h.emplace_back("If-None-Match", it->second.etag);
  if (!it->second.lastModified.empty()) h.emplace_back("If-Modified-Since", it->second.lastModified);
  return h;
}

DocumentCache::Loaded DocumentCache::storeHttp(const std::string& url, unsigned status, const std::string& body,
                                               const std::vector<std::pair<std::string, std::string>>& headers) {
  Loaded out;
  if (status == 304) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = httpEntries_.find(url);
    if (it != httpEntries_.end()) {
      it->second.validated = std::chrono::steady_clock::now();
      out.document = it->second.document;
      return out;
    }
  }
  if (status != 200) {
    out.error = "cannot fetch '" + url + "': HTTP status " + std::to_string(status);
    return out;
  }
  scxml::ParseOptions po;
  po.url = url;
  po.loader = loader();  // references inside it: local documents under the roots only
  scxml::ParseResult r = scxml::parseDocument(body, po);
  if (!r.document) {
    out.error = "invalid SCXML document '" + url + "'";
    out.diagnostics = std::move(r.errors);
    return out;
  }
  HttpEntry e;
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), "ETag") == 0) e.etag = v;
    if (strcasecmp(k.c_str(), "Last-Modified") == 0) e.lastModified = v;
  }
  e.validated = std::chrono::steady_clock::now();
  e.document = r.document;
  std::lock_guard<std::mutex> lock(mu_);
  httpEntries_[url] = std::move(e);
  out.document = r.document;
  return out;
}

DocumentCache::Loaded DocumentCache::load(const std::string& src) {
  Loaded out;
  Result<std::string> path = resolve(src);
  if (!path) {
    out.error = path.status().message();
    return out;
  }
  struct stat st {};
  if (stat(path->c_str(), &st) != 0) {
    out.error = "cannot open '" + src + "'";
    return out;
  }
  int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = entries_.find(*path);
    if (it != entries_.end() && it->second.mtimeNs == mtime && it->second.size == st.st_size) {
      out.document = it->second.document;
      return out;
    }
  }
  scxml::ParseOptions po;
  po.loader = loader();
  scxml::ParseResult r = scxml::loadDocument(*path, po);
  if (!r.document) {
    out.error = "invalid SCXML document '" + src + "'";
    out.diagnostics = std::move(r.errors);
    return out;
  }
  std::lock_guard<std::mutex> lock(mu_);
  entries_[*path] = {mtime, st.st_size, r.document};
  out.document = r.document;
  return out;
}

}  // namespace ors::server
