#pragma once
// Totals over the per-worker slots, shared by /metrics, /pools and /stats.
// Thread: control (relaxed reads of slots the workers own).

#include <array>
#include <cstdint>

#include "lb/metrics/counters.h"

namespace lb::admin {

// By status_counters slot (status_counters::code_text names them).
using status_totals = std::array<std::uint64_t, metrics::status_counters::slots>;

// A histogram summed over workers: non-cumulative counts, the last one +Inf.
struct bucket_totals {
  const metrics::bucket_bounds* bounds = &metrics::bucket_bounds::defaults();
  std::array<std::uint64_t, metrics::bucket_bounds::max + 1> counts{};
  double sum = 0;

  std::uint64_t total() const {
    std::uint64_t t = 0;
    for (std::size_t i = 0; i <= bounds->n; ++i) t += counts[i];
    return t;
  }
};

// `get(slot)` gives one worker's status_counters.
template <class Slots, class Get>
status_totals sum_status(const Slots& slots, Get get) {
  status_totals by_slot{};
  for (unsigned w = 0; w < slots.size(); ++w) {
    const metrics::status_counters& c = get(slots[w]);
    for (std::size_t s = 0; s < metrics::status_counters::slots; ++s) by_slot[s] += c.at(s);
  }
  return by_slot;
}

// `get(slot)` gives one worker's histogram; all share one bounds object.
template <class Slots, class Get>
bucket_totals sum_buckets(const Slots& slots, Get get) {
  bucket_totals out;
  if (slots.size() > 0) out.bounds = &get(slots[0]).bounds();
  for (unsigned w = 0; w < slots.size(); ++w) {
    const metrics::histogram& h = get(slots[w]);
    for (std::size_t i = 0; i <= out.bounds->n; ++i) out.counts[i] += h.bucket(i);
    out.sum += h.sum();
  }
  return out;
}

}  // namespace lb::admin
