#pragma once
// Per-client limit state for one listener in one worker: a token bucket for
// rates and a fixed-capacity table keyed by client address with LRU eviction.
// Everything is allocated when the table is built, so a flood of spoofed or
// distinct source addresses evicts old entries instead of growing memory, and
// a lookup never touches the heap. Not thread-safe by design: each worker owns
// its tables (no locks on the accept or request path).
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

namespace lb::listener {

// Tokens refill at `rate` per second up to `burst`; a request takes one.
struct token_bucket {
  double tokens = -1;  // < 0: not yet used, starts full
  std::int64_t last_ns = 0;

  bool take(double rate, double burst, std::int64_t now_ns) {
    if (tokens < 0) {
      tokens = burst;
    } else if (now_ns > last_ns) {
      tokens += rate * static_cast<double>(now_ns - last_ns) / 1e9;
      if (tokens > burst) tokens = burst;
    }
    last_ns = now_ns;
    if (tokens >= 1) {
      tokens -= 1;
      return true;
    }
    return false;
  }

  // Whole seconds until one token is back (for Retry-After), at least 1.
  std::int64_t retry_after_s(double rate) const {
    if (rate <= 0) return 1;
    const double missing = 1 - (tokens < 0 ? 0 : tokens);
    const auto s = static_cast<std::int64_t>(missing / rate + 0.999999);
    return s < 1 ? 1 : s;
  }
};

// 16 bytes: IPv4 stored as IPv4-mapped IPv6 so both families share one key.
using client_key = std::array<std::uint8_t, 16>;

struct client_entry {
  client_key key{};
  std::uint32_t connections = 0;  // open now
  token_bucket connect_rate;
  token_bucket request_rate;
};

// Entries with open connections are pinned: out of the LRU list, never
// evicted, so a connection can give its place back by index when it ends.
// Only unpinned entries (rate state alone) are evicted; when every entry is
// pinned, get() finds no room and returns null.
class client_table {
 public:
  static constexpr std::uint32_t npos = 0xffffffffu;

  explicit client_table(std::size_t capacity)
      : capacity_(capacity < 1 ? 1 : capacity),
        entries_(capacity_),
        next_(capacity_, npos),
        prev_(capacity_, npos),
        chain_(capacity_, npos),
        buckets_(bucket_count(capacity_), npos) {}

  std::size_t size() const { return size_; }
  std::size_t capacity() const { return capacity_; }
  std::uint64_t evictions() const { return evictions_; }

  // The entry for `key`, created (evicting the least recently used unpinned
  // one when full) if absent, and marked most recently used; null when it is
  // absent and every entry is pinned.
  client_entry* get(const client_key& key) {
    const std::size_t b = hash(key) & (buckets_.size() - 1);
    for (std::uint32_t i = buckets_[b]; i != npos; i = chain_[i]) {
      if (entries_[i].key == key) {
        if (entries_[i].connections == 0) touch(i);
        return &entries_[i];
      }
    }
    std::uint32_t i;
    if (size_ < capacity_) {
      i = static_cast<std::uint32_t>(size_++);
    } else {
      if (tail_ == npos) return nullptr;
      i = tail_;
      unlink(i);
      unchain(i);
      ++evictions_;
    }
    entries_[i] = client_entry{};
    entries_[i].key = key;
    chain_[i] = buckets_[b];
    buckets_[b] = i;
    push_front(i);
    return &entries_[i];
  }

  // Present without creating or touching, for tests and connection release.
  client_entry* find(const client_key& key) {
    const std::size_t b = hash(key) & (buckets_.size() - 1);
    for (std::uint32_t i = buckets_[b]; i != npos; i = chain_[i])
      if (entries_[i].key == key) return &entries_[i];
    return nullptr;
  }

  std::uint32_t index_of(const client_entry& e) const { return static_cast<std::uint32_t>(&e - entries_.data()); }

  // A connection of entry `i` opened / ended: the first pins it, the last
  // one's end returns it to the LRU list as the most recently used.
  void open(std::uint32_t i) {
    if (entries_[i].connections++ == 0) unlink(i);
  }
  void close(std::uint32_t i) {
    if (i >= size_ || entries_[i].connections == 0) return;
    if (--entries_[i].connections == 0) push_front(i);
  }

  // Least recently used unpinned key (the next one evicted); there must be one.
  const client_key& oldest() const { return entries_[tail_].key; }

 private:
  static std::size_t bucket_count(std::size_t n) {
    std::size_t b = 1;
    while (b < n * 2) b <<= 1;
    return b;
  }
  static std::size_t hash(const client_key& k) {
    std::uint64_t a, b;
    std::memcpy(&a, k.data(), 8);
    std::memcpy(&b, k.data() + 8, 8);
    std::uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return static_cast<std::size_t>(h ^ (h >> 29));
  }
  void push_front(std::uint32_t i) {
    prev_[i] = npos;
    next_[i] = head_;
    if (head_ != npos) prev_[head_] = i;
    head_ = i;
    if (tail_ == npos) tail_ = i;
  }
  void unlink(std::uint32_t i) {
    if (prev_[i] != npos) next_[prev_[i]] = next_[i]; else head_ = next_[i];
    if (next_[i] != npos) prev_[next_[i]] = prev_[i]; else tail_ = prev_[i];
  }
  void touch(std::uint32_t i) {
    if (head_ == i) return;
    unlink(i);
    push_front(i);
  }
  void unchain(std::uint32_t i) {
    const std::size_t b = hash(entries_[i].key) & (buckets_.size() - 1);
    std::uint32_t* p = &buckets_[b];
    while (*p != i) p = &chain_[*p];
    *p = chain_[i];
  }

  std::size_t capacity_;
  std::size_t size_ = 0;
  std::uint64_t evictions_ = 0;
  std::uint32_t head_ = npos, tail_ = npos;
  std::vector<client_entry> entries_;
  std::vector<std::uint32_t> next_, prev_, chain_, buckets_;
};

// One listener's client table on one worker, built on first use and rebuilt
// when `table_size` changes on reload (counts start afresh then; connections
// of the old table give nothing back to the new one: the generation tells).
class client_limiter {
 public:
  // Thread: owning worker.
  client_table& table(std::size_t size) {
    if (!table_ || table_->capacity() != size) {
      table_ = std::make_unique<client_table>(size);
      ++generation_;
    }
    return *table_;
  }
  std::uint16_t generation() const { return generation_; }
  // Thread: owning worker. A pinned connection ended.
  void release(std::uint16_t generation, std::uint32_t slot) {
    if (table_ && generation == generation_) table_->close(slot);
  }

 private:
  std::unique_ptr<client_table> table_;
  std::uint16_t generation_ = 0;
};

}  // namespace lb::listener
