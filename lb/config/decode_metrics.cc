#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lb/config/decode.h"
#include "lb/metrics/counters.h"

namespace lb::config::yaml {
namespace {

const schema metrics_schema{"metrics", {"request_duration_buckets"}, {}};

std::optional<double> parse_seconds(std::string_view s) {
  double v = 0;
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, v);
  if (ec != std::errc() || p != end || !std::isfinite(v)) return std::nullopt;
  return v;
}

// Seconds, like the `le` labels they become: durations ("250ms") would hide
// that 0.0005 and 0.25 are what Prometheus shows.
void read_buckets(reader& r, const field& f, metrics& out) {
  constexpr std::size_t max = lb::metrics::bucket_bounds::max;
  if (!f.value.IsSequence() || f.value.size() == 0 || f.value.size() > max) {
    r.error(f, "invalid 'request_duration_buckets': expected a list of 1 to " + std::to_string(max) +
                   " bucket bounds in seconds, like [0.005, 0.05, 0.5]");
    return;
  }
  std::vector<double> bounds;
  for (const auto& item : f.value) {
    const auto v = item.IsScalar() ? parse_seconds(item.Scalar()) : std::nullopt;
    if (!v || *v <= 0) {
      r.error(item.Mark(), "invalid bucket bound: expected a number of seconds greater than 0, like 0.25");
      return;
    }
    if (!bounds.empty() && *v <= bounds.back()) {
      r.error(item.Mark(), "invalid bucket bound: bounds must be strictly ascending");
      return;
    }
    bounds.push_back(*v);
  }
  out.request_duration_buckets = std::move(bounds);
}

}  // namespace

void decode_metrics(reader& r, const field& f, metrics& out) {
  const auto m = r.read_map(f, metrics_schema);
  if (!m) return;
  if (const auto* b = m->get("request_duration_buckets")) read_buckets(r, *b, out);
}

}  // namespace lb::config::yaml
