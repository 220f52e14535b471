#pragma once
// One open client connection as its listener counts it. The acceptor took a
// place in the listener's `open` count (max_connections); the ticket counts
// the connection in its worker's `active` gauge and `total` counter and gives
// the place back when the connection ends. It moves with the connection
// between its session and the parking lot, so parking is not a close.

#include <cstdint>
#include <memory>
#include <utility>

#include "lb/upstream/live.h"

namespace lb::runtime {

class connection_ticket {
 public:
  // Thread: owning worker `worker`.
  connection_ticket(std::shared_ptr<upstream::listener_live> listener, unsigned worker)
      : listener_(std::move(listener)), worker_(static_cast<std::uint16_t>(worker)) {
    auto& st = listener_->stats[worker_];
    st.active.add(1);
    st.total.add(1);
  }
  // The moved-from ticket counts nothing.
  connection_ticket(connection_ticket&& o) noexcept
      : listener_(std::move(o.listener_)),
        worker_(o.worker_),
        client_generation_(o.client_generation_),
        client_slot_(std::exchange(o.client_slot_, listener::client_table::npos)) {}
  // Takes `o`'s place in the count; the connection this ticket counted (if
  // any) ends here.
  connection_ticket& operator=(connection_ticket&& o) noexcept {
    if (this != &o) {
      release();
      listener_ = std::move(o.listener_);
      worker_ = o.worker_;
      client_generation_ = o.client_generation_;
      client_slot_ = std::exchange(o.client_slot_, listener::client_table::npos);
    }
    return *this;
  }
  connection_ticket(const connection_ticket&) = delete;
  connection_ticket& operator=(const connection_ticket&) = delete;

  ~connection_ticket() { release(); }

  const std::shared_ptr<upstream::listener_live>& listener() const { return listener_; }

  // The connection holds a place in its client's entry of the listener's
  // client table (client_limits.connections): given back when it ends.
  void hold_client(std::uint16_t generation, std::uint32_t slot) {
    client_generation_ = generation;
    client_slot_ = slot;
  }

 private:
  void release() {
    if (!listener_) return;
    listener_->stats[worker_].active.add(-1);
    listener_->open.fetch_sub(1, std::memory_order_relaxed);
    if (client_slot_ != listener::client_table::npos) {
      listener_->clients[worker_].release(client_generation_, client_slot_);
      client_slot_ = listener::client_table::npos;
    }
    listener_.reset();
  }

  std::shared_ptr<upstream::listener_live> listener_;  // null once moved from
  std::uint16_t worker_;
  std::uint16_t client_generation_ = 0;
  std::uint32_t client_slot_ = listener::client_table::npos;
};
// A parked connection carries one: it must not grow (parking.cc's 128 bytes).
static_assert(sizeof(connection_ticket) == 24);

}  // namespace lb::runtime
