#include "lb/listener/client_limits.h"

#include <algorithm>

#include "lb/config/cidr_match.h"
#include "lb/runtime/snapshot.h"
#include "lb/runtime/worker.h"

namespace lb::listener {

namespace {

std::int64_t nanos(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

bool v4_mapped(const client_key& k) {
  for (int i = 0; i < 10; ++i)
    if (k[i] != 0) return false;
  return k[10] == 0xff && k[11] == 0xff;
}

void count(unsigned worker, const runtime::listener_snapshot& ls, upstream::client_limit why) {
  ls.live->stats[worker].client_limited[static_cast<std::size_t>(why)].add();
}

}  // namespace

client_key key_of(const boost::asio::ip::address& a) {
  if (a.is_v6()) return a.to_v6().to_bytes();
  client_key k{};
  k[10] = k[11] = 0xff;
  const auto v4 = a.to_v4().to_bytes();
  std::copy(v4.begin(), v4.end(), k.begin() + 12);
  return k;
}

bool in_blocks(const std::vector<config::cidr>& blocks, const client_key& key) {
  const bool v4 = v4_mapped(key);
  for (const auto& c : blocks) {
    if (c.v6 == v4) continue;
    if (config::cidr_contains(c, v4 ? key.data() + 12 : key.data())) return true;
  }
  return false;
}

bool admit_connection(unsigned worker, const runtime::listener_snapshot& ls, accepted_connection& c) {
  const auto& cl = *ls.cfg->client_limits;
  if (!cl.connections && !cl.connections_per_second) return true;
  const auto key = key_of(c.peer);
  if (in_blocks(cl.allowlist, key)) return true;
  auto& limiter = ls.live->clients[worker];
  auto& table = limiter.table(cl.table_size);
  auto* e = table.get(key);
  // Every tracked client holds connections open: this one goes untracked
  // (the listener's max_connections still caps the total).
  if (!e) {
    ls.live->stats[worker].client_untracked.add();
    return true;
  }
  if (cl.connections && e->connections >= cl.connections) {
    count(worker, ls, upstream::client_limit::connections);
    return false;
  }
  if (cl.connections_per_second) {
    const auto rate = static_cast<double>(cl.connections_per_second);
    if (!e->connect_rate.take(rate, std::max(1.0, rate), nanos(std::chrono::steady_clock::now()))) {
      count(worker, ls, upstream::client_limit::connection_rate);
      return false;
    }
  }
  if (cl.connections) {
    const auto slot = table.index_of(*e);
    table.open(slot);
    c.ticket.hold_client(limiter.generation(), slot);
  }
  return true;
}

boost::asio::awaitable<bool> client_limits_stage(runtime::worker& w, const runtime::listener_snapshot& ls,
                                                 accepted_connection& c) {
  co_return admit_connection(w.id(), ls, c);
}

std::uint32_t admit_request(unsigned worker, const runtime::listener_snapshot& ls, const client_key& key,
                            std::chrono::steady_clock::time_point now) {
  const auto& cl = ls.cfg->client_limits;
  if (!cl || !cl->requests_per_second) return 0;
  if (!cl->allowlist.empty() && in_blocks(cl->allowlist, key)) return 0;
  auto* e = ls.live->clients[worker].table(cl->table_size).get(key);
  if (!e) return 0;
  const auto rate = static_cast<double>(cl->requests_per_second);
  if (e->request_rate.take(rate, static_cast<double>(cl->burst), nanos(now))) return 0;
  count(worker, ls, upstream::client_limit::request_rate);
  return static_cast<std::uint32_t>(e->request_rate.retry_after_s(rate));
}

}  // namespace lb::listener
