#include "lb/connpool/h2_pool.h"

#include <algorithm>

#include "lb/connpool/h2_stream.h"

namespace lb::connpool {

upstream_ptr stream_of(const std::shared_ptr<h2_connection>& c, std::size_t endpoint,
                       const std::shared_ptr<upstream::endpoint_live>& live) {
  auto up = std::make_shared<upstream_conn>(c->open_stream(), endpoint, live);
  up->multiplexed = true;
  return up;
}

upstream_ptr h2_pool::acquire(std::size_t endpoint, const std::shared_ptr<upstream::endpoint_live>& live) {
  auto& list = conns_[endpoint];
  h2_connection* best = nullptr;
  for (std::size_t i = 0; i < list.size();) {
    if (!list[i]->reusable()) {  // closed, or GOAWAY: finishes its streams on its own
      list[i] = std::move(list.back());
      list.pop_back();
      continue;
    }
    if (list[i]->accepts() && (!best || list[i]->open_streams() > best->open_streams())) best = list[i].get();
    ++i;
  }
  if (!best) return nullptr;
  return stream_of(best->shared_from_this(), endpoint, live);
}

upstream_ptr h2_pool::add(std::size_t endpoint, std::shared_ptr<h2_connection> c,
                          const std::shared_ptr<upstream::endpoint_live>& live) {
  auto up = stream_of(c, endpoint, live);
  conns_[endpoint].push_back(std::move(c));
  return up;
}

void h2_pool::sweep(clock::time_point now) {
  for (auto& list : conns_) {
    for (std::size_t i = 0; i < list.size();) {
      auto& c = *list[i];
      if (c.reusable() && c.open_streams() == 0 && now - c.idle_since() >= idle_timeout_) c.retire();
      if (!c.reusable()) {
        list[i] = std::move(list.back());
        list.pop_back();
        continue;
      }
      ++i;
    }
  }
}

void h2_pool::close_all() {
  for (auto& list : conns_) {
    for (auto& c : list) c->retire();
    list.clear();
  }
}

void h2_pool::move_to(std::size_t from, h2_pool& to, std::size_t endpoint) {
  auto& src = conns_[from];
  auto& dst = to.conns_[endpoint];
  for (auto& c : src)
    if (c->reusable()) dst.push_back(std::move(c));
  src.clear();
}

}  // namespace lb::connpool
