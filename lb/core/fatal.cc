#include "lb/core/fatal.h"

#include <cstdlib>
#include <string>

#include "lb/core/log.h"

namespace lb {

void fatal(std::string_view what, const boost::system::error_code& ec) {
  log::error("fatal", {{"what", what}, {"error", ec.message()}});
  std::abort();
}

}  // namespace lb
