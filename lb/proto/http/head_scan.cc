#include "lb/proto/http/head_scan.h"

namespace lb::proto::http {

head_scanner::state head_scanner::scan(std::string_view d) {
  const std::size_t n = d.size();
  for (std::size_t i = pos_; i < n; ++i) {
    const char c = d[i];
    if (c == '\r') {
      if (i + 1 >= n) {
        pos_ = i;
        return state::need_more;
      }
      if (d[i + 1] != '\n') return state::malformed;  // bare CR
    } else if (c == '\n') {
      if (i == 0 || d[i - 1] != '\r') return state::malformed;  // bare LF
      if (i + 1 >= n) {
        pos_ = i;
        return state::need_more;
      }
      const char next = d[i + 1];
      if (next == ' ' || next == '\t') return state::malformed;  // obs-fold
      if (next == '\r') {
        if (i + 2 >= n) {
          pos_ = i;
          return state::need_more;
        }
        if (d[i + 2] != '\n') return state::malformed;
        length_ = i + 3;
        return state::complete;
      }
    } else if (c == '\0') {
      return state::malformed;
    }
  }
  pos_ = n;
  return state::need_more;
}

std::size_t leading_empty_lines(std::string_view d) {
  std::size_t i = 0;
  while (i + 1 < d.size() && d[i] == '\r' && d[i + 1] == '\n') i += 2;
  return i;
}

}  // namespace lb::proto::http
