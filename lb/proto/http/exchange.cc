#include "lb/proto/http/exchange.h"

#include <new>

#include "lb/accesslog/access_log.h"
#include "lb/runtime/memory.h"
#include "lb/runtime/worker.h"

namespace lb::proto::http {

void account(const exchange& ex, runtime::worker& w, const runtime::worker_snapshot& ws, std::size_t listener_index,
             std::string_view client_ip) {
  const double duration = std::chrono::duration<double>(exchange::clock::now() - ex.start).count();
  const unsigned id = w.id();
  const auto& ls = ws.snap->listeners[listener_index];
  if (ex.route_index) {
    auto& rs = ls.route_stats[*ex.route_index]->stats[id];
    (ex.protocol == exchange::h2 ? rs.responses_h2 : rs.responses).add(ex.status);
    rs.duration.observe(duration);
  } else {
    (ex.protocol == exchange::h2 ? ls.live->stats[id].unrouted_h2 : ls.live->stats[id].unrouted).add(ex.status);
  }
  if (auto* log = w.access_log()) {
    accesslog::record r;
    r.start_unix_us = std::chrono::duration_cast<std::chrono::microseconds>(ex.start_wall.time_since_epoch()).count();
    r.listener = ls.cfg->name;
    if (ex.route_index) {
      r.route = ls.cfg->routes[*ex.route_index].name;
      r.pool = ws.snap->pools[ex.pool_index].cfg->name;
    }
    r.endpoint = ex.endpoint_label;
    r.client = client_ip;
    r.method = ex.method;
    r.path = ex.target;
    r.status = ex.status;
    r.bytes_in = ex.bytes_in;
    r.bytes_out = ex.bytes_out;
    r.duration = duration;
    r.upstream_duration = ex.upstream_duration;
    r.reason = ex.reason;
    r.attempts = ex.attempts;
    r.request_id = ex.ids.request_id;
    r.trace_id = ex.ids.trace_id;
    // Out of memory the line is lost, not the exchange's ending: this also
    // runs while an out-of-memory exception unwinds one.
    try {
      log->append(r);
    } catch (const std::bad_alloc&) {
      runtime::memory::note_failure(ex.protocol == exchange::h2 ? runtime::memory::plane::h2
                                                                : runtime::memory::plane::http1);
    }
  }
}

}  // namespace lb::proto::http
