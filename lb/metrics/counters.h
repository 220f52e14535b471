#pragma once
// Hot-path counting without locks or shared cache lines (Katran's per-CPU
// maps): every worker owns one slot and is its only writer (relaxed atomic
// stores, so a scrape on the control thread reads torn-free values); the
// control thread sums the slots when /metrics is scraped.

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>
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

namespace detail {

// The registered status codes a proxy meets, each with its own counter slot.
inline constexpr std::array<std::uint16_t, 58> exact_codes{
    100, 101,                                                                       //
    200, 201, 202, 203, 204, 205, 206, 207, 208,                                    //
    300, 301, 302, 303, 304, 307, 308,                                              //
    400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415,  //
    416, 417, 418, 421, 422, 423, 424, 425, 426, 428, 429, 431, 451,                //
    500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511};
inline constexpr std::size_t status_slots = 1 + exact_codes.size() + 5;  // "no status", exact, classes
inline constexpr std::size_t class_slot0 = 1 + exact_codes.size();       // "1xx"

// Status -> slot: 0 below 100 and from 600, exact codes from 1, the rest their class.
constexpr std::array<std::uint8_t, 600> make_status_index() {
  std::array<std::uint8_t, 600> out{};
  for (unsigned s = 100; s < 600; ++s) out[s] = static_cast<std::uint8_t>(class_slot0 + s / 100 - 1);
  for (std::size_t i = 0; i < exact_codes.size(); ++i) out[exact_codes[i]] = static_cast<std::uint8_t>(i + 1);
  return out;
}
inline constexpr auto status_index = make_status_index();

struct code_text {
  char s[4]{};
  std::uint8_t n = 0;
};
constexpr std::array<code_text, status_slots> make_code_texts() {
  std::array<code_text, status_slots> out{};
  out[0] = {{'0'}, 1};
  for (std::size_t i = 0; i < exact_codes.size(); ++i) {
    const unsigned c = exact_codes[i];
    out[i + 1] = {{char('0' + c / 100), char('0' + c / 10 % 10), char('0' + c % 10)}, 3};
  }
  for (unsigned k = 0; k < 5; ++k) out[class_slot0 + k] = {{char('1' + k), 'x', 'x'}, 3};
  return out;
}
inline constexpr auto code_texts = make_code_texts();

}  // namespace detail

// Counts per HTTP status, compactly (STYLE §7: per-endpoint memory grows with
// endpoints x workers). The registered codes a proxy meets get a slot each;
// any other code in 100..599 counts in its class's slot ("1xx".."5xx"), and
// slot 0 is "no status" (e.g. the upstream never answered). 64 slots, 512
// bytes: the 600-slot array it replaces was 4.8 KB per endpoint per worker.
class status_counters {
 public:
  static constexpr std::size_t slots = detail::status_slots;
  // Thread: the owning worker. One table load and one relaxed store.
  void add(unsigned status) { c_[slot_of(status)].add(); }
  // The count of `status`'s slot (exact for a code with its own slot).
  std::uint64_t get(unsigned status) const { return c_[slot_of(status)].get(); }
  std::uint64_t at(std::size_t slot) const { return c_[slot].get(); }

  static constexpr std::size_t slot_of(unsigned status) { return status < 600 ? detail::status_index[status] : 0; }
  // The `code` label of a slot: "0", "200", ..., or "5xx" for a class slot.
  static constexpr std::string_view code_text(std::size_t slot) {
    return {detail::code_texts[slot].s, detail::code_texts[slot].n};
  }
  // The class digit of a slot (2 for "200" and "2xx"); 0 for "no status".
  static constexpr unsigned class_of(std::size_t slot) {
    return slot == 0 ? 0u : static_cast<unsigned>(detail::code_texts[slot].s[0] - '0');
  }

 private:
  std::array<local_counter, slots> c_{};
};
static_assert(status_counters::slots == 64, "a whole number of cache lines");
static_assert(status_counters::code_text(status_counters::slot_of(299)) == "2xx");
static_assert(status_counters::code_text(status_counters::slot_of(503)) == "503");

// Ascending `le` bounds of a histogram, in seconds; immutable once built and
// shared by every histogram that uses it (one per worker per route).
struct bucket_bounds {
  static constexpr std::size_t max = 24;  // ample for SLO buckets; fixed so observe() never allocates
  std::array<double, max> v{};
  std::size_t n = 0;

  // 0.5 ms .. 10 s: resolves 1 ms to 10 s (the default of
  // lb_http_request_duration_seconds and lb_upstream_response_duration_seconds).
  static const bucket_bounds& defaults() {
    static const bucket_bounds d = of({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10});
    return d;
  }
  // The first `max` of `values` (callers validate: ascending, positive).
  template <class Range>
  static bucket_bounds of(const Range& values) {
    bucket_bounds b;
    for (double x : values) {
      if (b.n == max) break;
      b.v[b.n++] = x;
    }
    return b;
  }
  static bucket_bounds of(std::initializer_list<double> values) { return of<std::initializer_list<double>>(values); }
  bool operator==(const bucket_bounds& o) const {
    if (n != o.n) return false;
    for (std::size_t i = 0; i < n; ++i)
      if (v[i] != o.v[i]) return false;
    return true;
  }
};

// Latency histogram in seconds (Prometheus `le` buckets) over shared bounds.
class histogram {
 public:
  // Thread: control, before the owner is published to workers.
  void use(const bucket_bounds* b) { bounds_ = b; }

  void observe(double seconds) {
    const bucket_bounds& b = *bounds_;
    std::size_t i = 0;
    while (i < b.n && seconds > b.v[i]) ++i;
    buckets_[i].add();  // slot n: +Inf
    sum_micros_.add(static_cast<std::uint64_t>(seconds * 1e6));
  }
  const bucket_bounds& bounds() const { return *bounds_; }
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].get(); }  // non-cumulative; i == n: +Inf
  double sum() const { return static_cast<double>(sum_micros_.get()) / 1e6; }

 private:
  const bucket_bounds* bounds_ = &bucket_bounds::defaults();
  std::array<local_counter, bucket_bounds::max + 1> buckets_{};
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
