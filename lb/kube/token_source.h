#pragma once
// The bearer token sent with each request. A token file is read again before
// every new request (connections are few: one per resource stream, reopened
// after a watch ends), so a rotated projected service-account token is used
// as soon as the kubelet swaps it in; `refresh()` after a 401 does the same
// and says whether anything changed.

#include <string>

#include "lb/kube/credentials.h"

namespace lb::kube {

class token_source {
 public:
  explicit token_source(const credentials& c) : file_(c.token_file), token_(c.token) {}

  // Thread: the watcher's (not synchronised). The token to send now (empty:
  // none). A file that cannot be read keeps the last token it gave, and
  // `warning()` says why until it reads again.
  const std::string& current();
  // Thread: the watcher's. Re-reads the file; true when the token changed.
  bool refresh();
  const std::string& warning() const { return warning_; }

 private:
  std::string file_;
  std::string token_;
  std::string warning_;
};

}  // namespace lb::kube
