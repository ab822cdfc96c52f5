#include "server/standby.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/json/serialize.hpp>

#include "common/ids.h"
#include "http/url.h"

namespace ors::server {

namespace bh = http::beast_http;

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

bool DataDirLock::tryAcquire(std::string* error) {
  if (fd_ >= 0) return true;
  std::string path = dir_ + "/lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    *error = "cannot open " + path + ": " + std::strerror(errno);
    return false;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) *error = "cannot lock " + path + ": " + std::strerror(errno);
    ::close(fd);
    return false;
  }
  fd_ = fd;
  return true;
}

void DataDirLock::publishPrimary(const std::string& url) const {
  std::string tmp = dir_ + "/primary.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << url << "\n";
  }
  std::rename(tmp.c_str(), (dir_ + "/primary").c_str());
}

std::optional<std::string> DataDirLock::primaryUrl() const {
  std::ifstream in(dir_ + "/primary");
  std::string url;
  if (!in || !std::getline(in, url) || url.empty()) return std::nullopt;
  return url;
}

http::Response backupResponse(const http::Request& request, const std::optional<std::string>& primaryUrl,
                              const Config& config) {
  std::string_view target(request.target().data(), request.target().size());
  std::vector<std::string> seg;
  std::string_view query;
  bool parsed = http::parseTarget(target, &seg, &query);
  if (parsed && seg.size() == 1 && seg[0] == "heartbeat") {
    http::Response res{static_cast<bh::status>(config.heartbeatBackupStatus), request.version()};
    res.set(bh::field::content_type, "text/plain");
    res.body() = "backup\n";
    res.prepare_payload();
    return res;
  }
  if (!primaryUrl) {
    http::Response res = http::errorResponse(request.version(), bh::status::service_unavailable,
                                             "this instance is a backup and its primary is not known yet");
    res.set(bh::field::retry_after, "1");
    return res;
  }
  http::Response res{bh::status::temporary_redirect, request.version()};
  res.set(bh::field::location, *primaryUrl + std::string(target));
  if (config.cookie && parsed && seg.size() >= 3 && seg[0] == "scxml" && seg[1] == "session" && isSessionId(seg[2]))
    res.set(bh::field::set_cookie, "ORSSESSIONID=" + seg[2] + ".node" + std::to_string(config.nodeId) + "; Path=/");
  res.set(bh::field::content_type, "application/json");
  res.body() = boost::json::serialize(boost::json::object{{"redirect", *primaryUrl}, {"reason", "this instance is a backup"}});
  res.prepare_payload();
  return res;
}

http::Response routedResponse(const http::Request& request, const cluster::Decision& decision,
                              const std::string& sessionId, uint32_t owner, const Config& config) {
  using Kind = cluster::Decision::Kind;
  std::string_view target(request.target().data(), request.target().size());
  if (decision.kind == Kind::kOwnerUnknown)
    return http::errorResponse(request.version(), bh::status::not_found,
                               "no session '" + sessionId + "': its node " + std::to_string(owner) + " is not in the cluster");
  if (decision.kind == Kind::kOwnerDown) {
    http::Response res = http::errorResponse(request.version(), bh::status::service_unavailable,
                                             "node " + std::to_string(owner) + ", which owns this session, is not reachable");
    res.set(bh::field::retry_after, "1");
    return res;
  }
  http::Response res{bh::status::temporary_redirect, request.version()};
  res.set(bh::field::location, decision.location + std::string(target));
  if (config.cookie && !sessionId.empty())
    res.set(bh::field::set_cookie, "ORSSESSIONID=" + sessionId + ".node" + std::to_string(owner) + "; Path=/");
  res.set(bh::field::content_type, "application/json");
  res.body() = boost::json::serialize(boost::json::object{
      {"redirect", decision.location},
      {"reason", decision.kind == Kind::kRedirectExternal ? "another node owns this session (its external-url)"
                                                          : "served by the owning node's primary"}});
  res.prepare_payload();
  return res;
}

}  // namespace ors::server
