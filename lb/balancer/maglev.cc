#include "lb/balancer/maglev.h"

#include <algorithm>
#include <stdexcept>

#include "lb/balancer/hash.h"

namespace lb::balancer {

namespace {

constexpr std::uint16_t empty_slot = 0xffff;  // never an owner: at most 65535 endpoints
// Salts for the two permutation values of an id, fixed forever (they decide
// every key's endpoint).
constexpr std::uint64_t offset_salt = 0x6d61676c65763a6full;  // "maglev:o"
constexpr std::uint64_t skip_salt = 0x6d61676c65763a73ull;    // "maglev:s"

}  // namespace

maglev_table::maglev_table(const std::vector<std::uint32_t>& weights,
                           const std::vector<std::string>& ids)
    : endpoints_(weights.size()) {
  if (ids.size() != weights.size())
    throw std::invalid_argument("maglev_table: one id per endpoint expected");
  if (weights.size() > 0xffff)
    throw std::invalid_argument("maglev_table: more than 65535 endpoints");
  if (weights.empty()) return;

  struct entry {
    std::uint64_t weight;
    std::uint64_t target = 0;  // turns taken * max weight
    std::uint64_t next;        // current position in the permutation
    std::uint64_t skip;
  };
  std::vector<entry> entries;
  entries.reserve(weights.size());
  std::uint64_t max_weight = 1;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const std::uint64_t w = std::max<std::uint32_t>(weights[i], 1);
    max_weight = std::max(max_weight, w);
    const std::uint64_t base = hash_key(ids[i]);
    entries.push_back({w, 0, detail::mix64(base ^ offset_salt) % size,
                       detail::mix64(base ^ skip_salt) % (size - 1) + 1});
  }

  table_.assign(size, empty_slot);
  std::size_t filled = 0;
  for (std::uint64_t round = 1; filled < size; ++round) {
    for (std::size_t i = 0; i < entries.size() && filled < size; ++i) {
      auto& e = entries[i];
      // A max-weight endpoint takes a turn every round, one of a third of
      // that weight every third round.
      if (round * e.weight < e.target) continue;
      e.target += max_weight;
      while (table_[e.next] != empty_slot) {
        e.next += e.skip;
        if (e.next >= size) e.next -= size;
      }
      table_[e.next] = static_cast<std::uint16_t>(i);
      e.next += e.skip;
      if (e.next >= size) e.next -= size;
      ++filled;
    }
  }
}

std::size_t maglev_table::slots_of(std::size_t i) const {
  return static_cast<std::size_t>(std::count(table_.begin(), table_.end(), i));
}

int maglev_table::pick(const pick_request& r) const {
  if (endpoints_ == 0) return -1;
  std::size_t s = r.hash % size;
  std::size_t owner = table_[s];
  if (owner < r.count && r.weight[owner] != 0) return static_cast<int>(owner);

  // Fallback probe sequence: deterministic per key, and (size prime, step in
  // 1..size-1) it visits every slot once before repeating.
  const std::size_t step = (r.hash / size) % (size - 1) + 1;
  for (std::size_t k = 1; k < size; ++k) {
    if (k == r.count + 1 && detail::first_eligible(r) < 0) return -1;
    s += step;
    if (s >= size) s -= size;
    owner = table_[s];
    if (owner < r.count && r.weight[owner] != 0) return static_cast<int>(owner);
  }
  // Only an eligible endpoint without a slot (or beyond the build) is left.
  return detail::first_eligible(r);
}

}  // namespace lb::balancer
