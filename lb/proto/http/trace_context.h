#pragma once
// Request IDs and W3C Trace Context (https://www.w3.org/TR/trace-context/)
// for one exchange, shared by the HTTP/1 and HTTP/2 planes. The IDs lb makes
// are written into fixed buffers inside the exchange from the worker's
// fast_rng; the ones a client sent are views into its parsed head. Nothing
// here allocates.

#include <cstddef>
#include <string>
#include <string_view>

#include "lb/config/config.h"
#include "lb/core/fast_rng.h"

namespace lb::proto::http {

constexpr std::size_t uuid_size = 36;         // 8-4-4-4-12 hex digits
constexpr std::size_t traceparent_size = 55;  // 00-<32 hex>-<16 hex>-<2 hex>

// Thread: any. The trace-id of a valid `traceparent` value, else empty
// (Trace Context §3.2: lower-case hex only, version ff and all-zero IDs are
// invalid, version 00 is exactly 55 characters, a later version is read by
// its first 55 when a '-' or the end follows them).
std::string_view traceparent_trace_id(std::string_view value);

// Thread: any. Whether lb keeps a trusted client's X-Request-Id: 1 to 128
// visible ASCII characters (no space, no control, no '"' or '\': it goes
// into logs as is).
bool acceptable_request_id(std::string_view value);

// Thread: any. A random (version 4, RFC 9562) UUID as 36 characters at `out`.
void write_uuid4(fast_rng& rng, char* out);
// Thread: any. A new `traceparent` (version 00, random non-zero trace-id and
// parent-id) as 55 characters at `out`.
void write_traceparent(fast_rng& rng, bool sampled, char* out);

// The request fields the decision reads, gathered in the plane's one pass.
struct incoming_trace {
  std::string_view request_id;
  std::string_view traceparent;
  unsigned request_ids = 0;   // X-Request-Id fields seen
  unsigned traceparents = 0;  // traceparent fields seen

  // `name` in any case.
  void see(std::string_view name, std::string_view value);
};

// The IDs of one exchange. Views may point into its own buffers: never copied.
struct trace_ids {
  trace_ids() = default;
  trace_ids(const trace_ids&) = delete;
  trace_ids& operator=(const trace_ids&) = delete;

  void reset() {
    request_id = trace_id = traceparent = {};
    own_request_id = drop_trace = false;
  }

  std::string_view request_id;   // empty: the listener has no `request_id`
  std::string_view trace_id;     // empty: no trace (or no `tracing`)
  std::string_view traceparent;  // lb's own, written upstream; empty: the client's passes as is (or none)
  bool own_request_id = false;   // the client's X-Request-Id fields are left out: lb writes `request_id`
  bool drop_trace = false;       // the client's traceparent and tracestate fields are left out
  char id_buf[uuid_size];
  char tp_buf[traceparent_size];
};

// Thread: any. Decides `out` for a request that arrived with `in`. The
// client's X-Request-Id is kept when it is the only one, acceptable and
// `trusted()` (called only then) says so; else lb makes one. A valid single
// traceparent passes untouched with its tracestate; a missing, repeated or
// malformed one is replaced by a new trace with `start`, and otherwise a
// repeated or malformed one is dropped (tracestate with it).
template <class Trusted>
void decide_ids(trace_ids& out, const config::listener& l, const incoming_trace& in, fast_rng& rng,
                Trusted&& trusted);

// Thread: any. For an answer lb gives before (or without) deciding: makes the
// request ID if the listener wants one and it has none yet.
inline void ensure_request_id(trace_ids& ids, const config::listener& l, fast_rng& rng) {
  if (!l.request_id.enabled || !ids.request_id.empty()) return;
  write_uuid4(rng, ids.id_buf);
  ids.request_id = {ids.id_buf, uuid_size};
  ids.own_request_id = true;
}

// Thread: any. Whether a request field called `name` is left out of the
// upstream head (lb writes its own in its place, or none).
bool replaced_trace_field(std::string_view name, const trace_ids& ids);

// Thread: any. Appends the fields lb writes upstream: its X-Request-Id and
// its traceparent, as decided.
void append_trace_fields(std::string& out, const trace_ids& ids);

template <class Trusted>
void decide_ids(trace_ids& out, const config::listener& l, const incoming_trace& in, fast_rng& rng,
                Trusted&& trusted) {
  if (l.request_id.enabled) {
    if (in.request_ids == 1 && !l.request_id.trust_from.empty() && acceptable_request_id(in.request_id) &&
        trusted()) {
      out.request_id = in.request_id;  // passes upstream where it was
    } else {
      ensure_request_id(out, l, rng);
    }
  }
  if (!l.tracing.enabled) return;
  if (in.traceparents == 1) out.trace_id = traceparent_trace_id(in.traceparent);
  if (!out.trace_id.empty()) return;
  if (l.tracing.start) {
    write_traceparent(rng, l.tracing.sampled, out.tp_buf);
    out.traceparent = {out.tp_buf, traceparent_size};
    out.trace_id = out.traceparent.substr(3, 32);
    out.drop_trace = true;
  } else if (in.traceparents != 0) {
    out.drop_trace = true;
  }
}

}  // namespace lb::proto::http
