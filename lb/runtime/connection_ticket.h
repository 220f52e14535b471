#pragma once
// One open client connection as its listener counts it. The acceptor took a
// place in the listener's `open` count (max_connections); the ticket counts
// the connection in its worker's `active` gauge and `total` counter and gives
// the place back when the connection ends. It moves with the connection
// between its session and the parking lot, so parking is not a close.

#include <memory>

#include "lb/upstream/live.h"

namespace lb::runtime {

class connection_ticket {
 public:
  // Thread: owning worker `worker`.
  connection_ticket(std::shared_ptr<upstream::listener_live> listener, unsigned worker)
      : listener_(std::move(listener)), worker_(worker) {
    auto& st = listener_->stats[worker_];
    st.active.add(1);
    st.total.add(1);
  }
  connection_ticket(connection_ticket&&) noexcept = default;  // the moved-from ticket counts nothing
  // Takes `o`'s place in the count; the connection this ticket counted (if
  // any) ends here.
  connection_ticket& operator=(connection_ticket&& o) noexcept {
    if (this != &o) {
      release();
      listener_ = std::move(o.listener_);
      worker_ = o.worker_;
    }
    return *this;
  }
  connection_ticket(const connection_ticket&) = delete;
  connection_ticket& operator=(const connection_ticket&) = delete;

  ~connection_ticket() { release(); }

  const std::shared_ptr<upstream::listener_live>& listener() const { return listener_; }

 private:
  void release() {
    if (!listener_) return;
    listener_->stats[worker_].active.add(-1);
    listener_->open.fetch_sub(1, std::memory_order_relaxed);
    listener_.reset();
  }

  std::shared_ptr<upstream::listener_live> listener_;  // null once moved from
  unsigned worker_;
};

}  // namespace lb::runtime
