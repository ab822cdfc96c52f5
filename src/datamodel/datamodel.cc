// Shared helpers of the datamodel interface.
#include "datamodel/datamodel.h"

namespace ors::dm {

bool DataModel::isSystemLocation(std::string_view location) {
  size_t b = location.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return false;
  location.remove_prefix(b);
  size_t e = 0;
  while (e < location.size() && (std::isalnum(static_cast<unsigned char>(location[e])) || location[e] == '_' || location[e] == '$')) ++e;
  std::string_view root = location.substr(0, e);
  return root == "_event" || root == "_sessionid" || root == "_name" || root == "_ioprocessors" || root == "_x";
}

}  // namespace ors::dm
