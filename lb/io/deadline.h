#pragma once
// The deadline of one timed activity of a connection (an exchange's response
// side, its upload), kept apart so two activities running at once never
// overwrite each other's. The worker's coarse sweep fires it (there is no timer
// per operation); `fired` then tells an operation that ended in
// operation_aborted that its own deadline passed.

#include <chrono>

namespace lb::io {

struct deadline {
  std::chrono::steady_clock::time_point at = std::chrono::steady_clock::time_point::max();
  bool fired = false;
};

}  // namespace lb::io
