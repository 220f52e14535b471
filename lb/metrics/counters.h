#pragma once
// Hot-path counting without locks or shared cache lines (Katran's per-CPU
// maps): every worker owns one slot and is its only writer (relaxed atomic
// stores, so a scrape on the control thread reads torn-free values); the
// control thread sums the slots when /metrics is scraped.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace lb::metrics {

// A counter written by one thread. `add` is a relaxed load+store, not an RMW:
// no lock prefix, since nobody else writes the slot.
class local_counter {
 public:
  void add(std::uint64_t n = 1) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// A gauge with one writer (its worker) and readers anywhere (the scrape): a
// relaxed load and store, no read-modify-write, because nothing else writes it.
// A gauge that several threads move needs std::atomic::fetch_add instead.
class local_gauge {
 public:
  void add(std::int64_t n) { v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
  std::int64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Counts per HTTP status code 100..599, plus slot 0 for "no status" (e.g. the
// upstream never answered).
class status_counters {
 public:
  static constexpr std::size_t slots = 600;
  void add(unsigned status) { c_[status < slots && status >= 100 ? status : 0].add(); }
  std::uint64_t get(unsigned status) const { return c_[status].get(); }

 private:
  std::array<local_counter, slots> c_{};
};

// Fixed-bucket latency histogram in seconds (Prometheus `le` buckets).
class histogram {
 public:
  static constexpr std::array<double, 14> bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                  0.1,    0.25,  0.5,    1,     2.5,  5,     10};
  void observe(double seconds) {
    std::size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    buckets_[i].add();  // last slot: +Inf
    sum_micros_.add(static_cast<std::uint64_t>(seconds * 1e6));
  }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }  // non-cumulative
  double sum() const { return static_cast<double>(sum_micros_.get()) / 1e6; }

 private:
  std::array<local_counter, bounds.size() + 1> buckets_{};
  local_counter sum_micros_;
};

// One T per worker, each on its own cache lines.
template <class T>
class per_worker {
 public:
  explicit per_worker(unsigned workers) : slots_(workers) {}
  T& operator[](unsigned worker) { return slots_[worker].value; }
  const T& operator[](unsigned worker) const { return slots_[worker].value; }
  unsigned size() const { return static_cast<unsigned>(slots_.size()); }

 private:
  struct alignas(64) slot {
    T value;
  };
  std::vector<slot> slots_;
};

}  // namespace lb::metrics
