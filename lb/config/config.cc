#include "lb/config/config.h"

#include "lb/config/loader.h"

namespace lb::config {

std::string address::str() const {
  // A ':' in the host can only be an IPv6 literal, which needs its brackets back.
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string diagnostic::str() const {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

}  // namespace lb::config
