#include "lb/kube/lease.h"

#include <cstdio>
#include <ctime>

namespace lb::kube {

using nlohmann::json;

namespace {

bool read_time(const json& spec, const char* key, std::optional<wall_time>& out, std::string& why) {
  const auto it = spec.find(key);
  if (it == spec.end() || it->is_null()) return true;
  if (!it->is_string() || !(out = parse_time(it->get_ref<const std::string&>()))) {
    why = std::string("spec.") + key + " is not a time";
    return false;
  }
  return true;
}

}  // namespace

bool parse_lease(const json& obj, lease_record& out, std::string& why) {
  out = {};
  if (!obj.is_object()) {
    why = "a Lease is not an object";
    return false;
  }
  if (const auto m = obj.find("metadata"); m != obj.end() && m->is_object()) {
    if (const auto rv = m->find("resourceVersion"); rv != m->end() && rv->is_string()) out.resource_version = *rv;
  }
  const auto spec = obj.find("spec");
  if (spec == obj.end() || spec->is_null()) return true;
  if (!spec->is_object()) {
    why = "Lease spec is not an object";
    return false;
  }
  if (const auto h = spec->find("holderIdentity"); h != spec->end() && !h->is_null()) {
    if (!h->is_string()) {
      why = "spec.holderIdentity is not a string";
      return false;
    }
    out.holder = *h;
  }
  if (const auto d = spec->find("leaseDurationSeconds"); d != spec->end() && !d->is_null()) {
    if (!d->is_number_integer()) {
      why = "spec.leaseDurationSeconds is not an integer";
      return false;
    }
    out.duration = std::chrono::seconds(d->get<std::int64_t>());
  }
  if (const auto t = spec->find("leaseTransitions"); t != spec->end() && !t->is_null()) {
    if (!t->is_number_integer()) {
      why = "spec.leaseTransitions is not an integer";
      return false;
    }
    out.transitions = t->get<std::int64_t>();
  }
  return read_time(*spec, "acquireTime", out.acquire_time, why) && read_time(*spec, "renewTime", out.renew_time, why);
}

bool lease_expired(const lease_record& r, wall_time now) {
  if (r.holder.empty() || !r.renew_time) return true;
  return *r.renew_time + r.duration <= now;
}

json lease_object(const std::string& ns, const std::string& name, const lease_record& r) {
  json meta = {{"name", name}, {"namespace", ns}};
  if (!r.resource_version.empty()) meta["resourceVersion"] = r.resource_version;
  json spec = {{"holderIdentity", r.holder},
               {"leaseDurationSeconds", r.duration.count()},
               {"leaseTransitions", r.transitions}};
  if (r.acquire_time) spec["acquireTime"] = format_micro_time(*r.acquire_time);
  if (r.renew_time) spec["renewTime"] = format_micro_time(*r.renew_time);
  return {{"apiVersion", "coordination.k8s.io/v1"}, {"kind", "Lease"}, {"metadata", meta}, {"spec", spec}};
}

lease_record take_lease(const std::optional<lease_record>& current, const std::string& identity,
                        std::chrono::seconds duration, wall_time now) {
  lease_record r;
  r.holder = identity;
  r.duration = duration;
  r.renew_time = now;
  r.acquire_time = now;
  if (current) {
    r.resource_version = current->resource_version;
    r.transitions = current->transitions;
    if (current->holder == identity && current->acquire_time) {
      r.acquire_time = current->acquire_time;
    } else if (current->holder != identity) {
      ++r.transitions;
    }
  }
  return r;
}

lease_record release_lease(const lease_record& current, wall_time now) {
  lease_record r = current;
  r.holder.clear();
  r.duration = std::chrono::seconds(1);
  r.renew_time = now;
  r.acquire_time = now;
  return r;
}

std::string format_micro_time(wall_time t) {
  const auto us = std::chrono::time_point_cast<std::chrono::microseconds>(t).time_since_epoch().count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  long frac = static_cast<long>(us % 1'000'000);
  if (frac < 0) {  // before 1970: the fraction counts forward from the second below
    frac += 1'000'000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int year, as the compiler counts
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

std::optional<wall_time> parse_time(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS, then an optional fraction, then Z or +hh:mm / -hh:mm.
  auto digits = [&](std::size_t pos, std::size_t n, int& v) {
    if (pos + n > s.size()) return false;
    v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, mon, day, hour, min, sec;
  if (!digits(0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, mon) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != 'T' && s[10] != 't') || !digits(11, 2, hour) || s[13] != ':' ||
      !digits(14, 2, min) || s[16] != ':' || !digits(17, 2, sec))
    return std::nullopt;
  if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (s[pos] == '.') {
    ++pos;
    int n = 0;
    for (; pos < s.size() && s[pos] >= '0' && s[pos] <= '9'; ++pos, ++n) {
      if (n < 6) micros = micros * 10 + (s[pos] - '0');
    }
    if (n == 0) return std::nullopt;
    for (; n < 6; ++n) micros *= 10;
  }
  int offset = 0;
  const bool utc = pos + 1 == s.size() && (s[pos] == 'Z' || s[pos] == 'z');
  if (!utc) {
    int oh, om;
    if (pos + 6 != s.size() || (s[pos] != '+' && s[pos] != '-') || s[pos + 3] != ':' || !digits(pos + 1, 2, oh) ||
        !digits(pos + 4, 2, om))
      return std::nullopt;
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = min;
  tm.tm_sec = sec;
  const std::time_t secs = timegm(&tm) - offset;
  return wall_time(std::chrono::duration_cast<wall_time::duration>(std::chrono::seconds(secs) +
                                                                   std::chrono::microseconds(micros)));
}

}  // namespace lb::kube
