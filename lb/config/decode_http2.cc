#include "lb/config/decode.h"

namespace lb::config::yaml {
namespace {

const schema http2_schema{"http2",
                          {"max_concurrent_streams", "initial_window_size", "reset_burst", "resets_per_second",
                           "max_continuations", "max_header_fields", "control_frame_budget",
                           "control_frames_per_request", "stall_timeout"},
                          {}};

}  // namespace

void decode_http2(reader& r, const field& f, http2& out) {
  const auto m = r.read_map(f, http2_schema);
  if (!m) return;
  auto u32 = [&](const auto& item, std::uint32_t& v, std::uint64_t min, std::uint64_t max) {
    if (const auto n = r.read_uint(item, min, max)) v = static_cast<std::uint32_t>(*n);
  };
  for (const auto& item : m->items) {
    if (item.key == "max_concurrent_streams") u32(item, out.max_concurrent_streams, 1, 1u << 20);
    // RFC 9113 §6.9.2: at most 2^31-1.
    else if (item.key == "initial_window_size") u32(item, out.initial_window_size, 1024, (1u << 31) - 1);
    else if (item.key == "reset_burst") u32(item, out.reset_burst, 1, 1u << 20);
    else if (item.key == "resets_per_second") u32(item, out.resets_per_second, 1, 1u << 20);
    else if (item.key == "max_continuations") u32(item, out.max_continuations, 0, 1024);
    else if (item.key == "max_header_fields") u32(item, out.max_header_fields, 8, 10000);
    else if (item.key == "control_frame_budget") u32(item, out.control_frame_budget, 16, 1u << 24);
    else if (item.key == "control_frames_per_request") u32(item, out.control_frames_per_request, 0, 1000);
    else if (item.key == "stall_timeout") {
      if (const auto d = r.read_duration(item, false)) out.stall_timeout = *d;
    }
  }
}

}  // namespace lb::config::yaml
