#pragma once
// Every dns_refresh (the shortest among pools with hostname endpoints), the
// control thread re-resolves them asynchronously and updates the cache; the
// owner publishes a new snapshot only when an address set changed.
// Connections to addresses that left finish undisturbed.

#include <cstdint>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "lb/config/config.h"
#include "lb/runtime/snapshot.h"

namespace lb::control {

class dns_refresh {
 public:
  // Thread: control, like every member. `changed` runs after `cache` took
  // new addresses.
  dns_refresh(boost::asio::io_context& io, runtime::dns_cache& cache, std::function<void()> changed)
      : timer_(io), resolver_(io), cache_(cache), changed_(std::move(changed)) {}

  // (Re)arms the timer for `cfg` (a reload's config replaces the last).
  void schedule(std::shared_ptr<const config::config> cfg);
  // Draining: no more refreshes, and one in flight is dropped.
  void stop();

 private:
  void refresh();
  void done(const runtime::dns_cache& fresh);

  boost::asio::steady_timer timer_;
  boost::asio::ip::tcp::resolver resolver_;
  runtime::dns_cache& cache_;
  std::function<void()> changed_;
  std::shared_ptr<const config::config> cfg_;
  std::uint64_t generation_ = 0;
  bool stopped_ = false;
};

}  // namespace lb::control
