#pragma once
// What /stats answers and the status page shows: totals, recent rates, error
// ratios, latency quantiles and short histories (sparklines). The control
// thread samples the per-worker counters every `period`, so rates are the
// differences between samples, the same for every reader, and a page
// refreshing in many browsers costs nothing extra on the workers.

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "lb/admin/sums.h"
#include "lb/admin/views.h"
#include "lb/runtime/snapshot.h"

namespace lb::admin {

// The `q` quantile (0..1) of the observations in `h`, interpolated linearly
// within its bucket like Prometheus' histogram_quantile(); the highest finite
// bound when it falls in +Inf; negative when `h` is empty.
double quantile(const bucket_totals& h, double q);

class stats_history {
 public:
  static constexpr std::chrono::seconds period{2};
  static constexpr std::size_t depth = 31;       // samples kept: 30 intervals (one minute)
  static constexpr std::size_t rate_span = 5;    // intervals a rate is taken over (10 s)

  // Thread: control. One sample of every listener, route and endpoint of
  // `snap` at `unix_now` (seconds); forgets what `snap` no longer has.
  void sample(const runtime::snapshot& snap, double unix_now);

  // Thread: control. The /stats document (docs/observability.md). Live state
  // (health, connections, in-flight) is read now; rates come from samples.
  nlohmann::ordered_json render(const runtime::snapshot& snap, const control_facts& facts, double unix_now) const;

 private:
  struct point {
    double t = 0;
    std::uint64_t requests = 0, errors = 0, connections = 0;
  };
  // A fixed ring of the newest N samples of one live object.
  template <class T, std::size_t N>
  struct ring {
    std::shared_ptr<const void> owner;  // keeps the key's object (and address) alive until pruned
    std::array<T, N> v{};
    std::size_t n = 0, head = 0;  // head: the next slot written
    bool seen = false;            // in the latest sample

    void push(const T& x) {
      v[head] = x;
      head = (head + 1) % N;
      if (n < N) ++n;
      seen = true;
    }
    const T& back(std::size_t k) const { return v[(head + N - 1 - k) % N]; }  // k = 0: newest
  };
  using series = ring<point, depth>;
  using hist_series = ring<bucket_totals, rate_span + 1>;  // routes' latency over the rate span
  struct rate {
    double requests = 0, errors = 0, connections = 0;
    bool known = false;  // fewer than two samples yet
  };

  static rate rate_of(const series* s, std::size_t span);
  const series* find(const void* key) const;

  std::map<const void*, series> series_;      // listeners, routes, endpoints
  std::map<const void*, hist_series> hists_;  // routes
};

}  // namespace lb::admin
