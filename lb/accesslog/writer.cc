// writer: a worker's access-log buffer. Records are formatted straight into
// it; the worker hands it to the sink when it reaches 64 KiB and at every
// sweep (flush), so a request costs one format() and no lock or syscall.

#include <string>
#include <utility>

#include "lb/accesslog/access_log.h"

namespace lb::accesslog {
namespace {

// Hand-off threshold, and the capacity reserved for the next buffer: room for
// the threshold plus a few lines, so the record that crosses it rarely
// reallocates.
constexpr std::size_t kHandOffBytes = 64 * 1024;
constexpr std::size_t kReserveBytes = kHandOffBytes + 8 * 1024;
// flush() copies out a buffer smaller than this (one exact-size allocation)
// and keeps its own warm capacity, rather than giving away a 72 KiB buffer
// each sweep for a few lines.
constexpr std::size_t kCopyOutBytes = 16 * 1024;

}  // namespace

writer::writer(std::shared_ptr<sink> s) : sink_(std::move(s)) {
  if (sink_) buf_.reserve(kReserveBytes);
}

writer::~writer() {
  try {
    flush();
  } catch (...) {
    // Out of memory while handing off the last lines: nothing to report to.
  }
}

void writer::append(const record& r) {
  if (!sink_) return;  // no sink: logging is off
  format(buf_, r);
  if (buf_.size() >= kHandOffBytes) {
    sink_->submit(std::move(buf_));
    buf_ = std::string();
    buf_.reserve(kReserveBytes);
  }
}

void writer::flush() {
  if (!sink_ || buf_.empty()) return;
  if (buf_.size() < kCopyOutBytes) {
    sink_->submit(std::string(buf_));
    buf_.clear();
    return;
  }
  sink_->submit(std::move(buf_));
  buf_ = std::string();
  buf_.reserve(kReserveBytes);
}

}  // namespace lb::accesslog
