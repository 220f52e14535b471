#include "lb/connpool/idle_pool.h"

#include <algorithm>

#include <boost/asio/error.hpp>

namespace lb::connpool {

upstream_ptr idle_pool::acquire(std::size_t endpoint) {
  auto& list = idle_[endpoint];
  if (list.empty()) return nullptr;
  upstream_ptr c = std::move(list.back());
  list.pop_back();
  c->in_pool = false;
  ++c->generation;
  if (c->watched) {
    c->watched = false;
    c->stream->cancel();  // the readiness wait completes as aborted
  }
  return c;
}

void idle_pool::release(upstream_ptr c) {
  if (c->multiplexed) {
    c->stream->close();  // its connection stays in the worker's h2_pool
    return;
  }
  auto& list = idle_[c->endpoint];
  if (list.size() >= max_idle_ || !c->stream->is_open()) {
    c->stream->close();
    return;
  }
  c->in_pool = true;
  c->idle_since = clock::now();
  ++c->generation;
  list.push_back(std::move(c));
}

void idle_pool::watch(const upstream_ptr& c) {
  c->watched = true;
  const auto gen = c->generation;
  c->stream->wait_readable([this, c, gen](io::error_code ec) {
    // Aborted or re-acquired since: not about the idle connection.
    if (ec == boost::asio::error::operation_aborted) return;
    if (!c->in_pool || c->generation != gen) return;
    // Readable while idle means closed, reset or unsolicited bytes.
    remove(c);
  });
}

void idle_pool::remove(const upstream_ptr& c) {
  auto& list = idle_[c->endpoint];
  auto it = std::find(list.begin(), list.end(), c);
  if (it == list.end()) return;
  c->in_pool = false;
  c->stream->close();
  list.erase(it);
}

void idle_pool::sweep(clock::time_point now) {
  for (auto& list : idle_) {
    // Oldest first in a LIFO list: trim from the front.
    std::size_t stale = 0;
    while (stale < list.size() && now - list[stale]->idle_since >= idle_timeout_) ++stale;
    for (std::size_t i = 0; i < stale; ++i) {
      list[i]->in_pool = false;
      list[i]->stream->close();
    }
    list.erase(list.begin(), list.begin() + static_cast<std::ptrdiff_t>(stale));
    for (auto& c : list)
      if (!c->watched) watch(c);
  }
}

void idle_pool::close_all() {
  for (auto& list : idle_) {
    for (auto& c : list) {
      c->in_pool = false;
      c->stream->close();
    }
    list.clear();
  }
}

}  // namespace lb::connpool
