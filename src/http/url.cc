#include "http/url.h"

namespace ors::http {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

namespace {

// Appends the decoding of `in` to `out`.
bool decodeInto(std::string_view in, bool plusAsSpace, std::string* out) {
  // One pass over the bytes: the usual input (a path segment, a session id) has nothing to
  // decode and is copied in one go; find_first_of on a character set costs a call per byte.
  size_t i = 0;
  while (i < in.size() && in[i] != '%' && !(plusAsSpace && in[i] == '+')) ++i;
  out->append(in.data(), i);
  if (i == in.size()) return true;
  out->reserve(out->size() + in.size() - i);
  for (; i < in.size(); ++i) {
    char c = in[i];
    if (c == '+' && plusAsSpace) {
      out->push_back(' ');
    } else if (c != '%') {
      out->push_back(c);
    } else {
      if (i + 2 >= in.size()) return false;  // '%' needs two hex digits
      int h = hexDigit(in[i + 1]);
      int l = hexDigit(in[i + 2]);
      if (h < 0 || l < 0) return false;
      out->push_back(static_cast<char>(h * 16 + l));
      i += 2;
    }
  }
  return true;
}

}  // namespace

bool percentDecode(std::string_view in, bool plusAsSpace, std::string* out) {
  out->clear();
  return decodeInto(in, plusAsSpace, out);
}

std::string percentEncode(std::string_view in) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  out.reserve(in.size());
  for (unsigned char c : in) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

bool parseTarget(std::string_view target, Target* out) {
  if (target.empty() || target[0] != '/') return false;
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  out->query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  size_t hash = out->query.find('#');
  if (hash != std::string_view::npos) out->query = out->query.substr(0, hash);
  out->segments.clear();
  out->decoded.clear();
  // Decoding never lengthens: with room for the whole path, `decoded` never moves under the
  // views into it.
  if (path.find('%') != std::string_view::npos) out->decoded.reserve(path.size());
  size_t i = 1;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view raw = path.substr(i, j - i);
    if (raw.find('%') == std::string_view::npos) {
      out->segments.push_back(raw);
    } else {
      size_t at = out->decoded.size();
      if (!decodeInto(raw, false, &out->decoded)) return false;
      out->segments.push_back(std::string_view(out->decoded).substr(at));
    }
    i = j + 1;
  }
  if (!out->segments.empty() && out->segments.back().empty()) out->segments.pop_back();  // trailing '/'
  return true;
}

bool parseForm(std::string_view form, boost::json::object& out) {
  size_t i = 0;
  while (i < form.size()) {
    size_t amp = form.find('&', i);
    if (amp == std::string_view::npos) amp = form.size();
    std::string_view pair = form.substr(i, amp - i);
    i = amp + 1;
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key, value;
    if (!percentDecode(pair.substr(0, eq), true, &key)) return false;
    if (eq != std::string_view::npos && !percentDecode(pair.substr(eq + 1), true, &value)) return false;
    if (key.empty()) continue;
    out[key] = value;
  }
  return true;
}

}  // namespace ors::http
