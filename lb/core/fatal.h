#pragma once
// For syscalls that cannot fail on a valid descriptor (Envoy's STYLE.md:
// crash rather than carry on in a state nobody designed for). Logs and aborts.

#include <string_view>

#include <boost/system/error_code.hpp>

namespace lb {

// Thread: any. Never returns.
[[noreturn]] void fatal(std::string_view what, const boost::system::error_code& ec);

}  // namespace lb
