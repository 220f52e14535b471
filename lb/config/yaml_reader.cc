#include "lb/config/yaml_reader.h"

#include <algorithm>
#include <utility>

#include "lb/config/parse.h"
#include "lb/config/validate.h"

namespace lb::config::yaml {
namespace {

std::string range_text(std::uint64_t min, std::uint64_t max) {
  if (max == no_max) return "an integer >= " + std::to_string(min);
  return "an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

// Why parse_address refused `s`, for the common mistakes.
std::string address_hint(std::string_view s) {
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos) return " (missing ':port')";
  if (s.front() != '[' && s.substr(0, colon).find(':') != std::string_view::npos) {
    return " (IPv6 addresses need brackets, like [::1]:8080)";
  }
  const auto port = parse_digits(s.substr(colon + 1));
  if (port && *port > 65535) return " (port must be 0..65535)";
  return "";
}

}  // namespace

std::string join(const std::vector<std::string_view>& v) {
  std::string out;
  for (auto s : v) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Scalar: {
      std::string s = n.Scalar();
      if (s.size() > 64) s = s.substr(0, 61) + "...";
      return "\"" + s + "\"";
    }
    default: return "an empty value";
  }
}

YAML::Mark mark_of(const field& f) {
  return f.value.IsNull() ? f.key_node.Mark() : f.value.Mark();
}

source_pos reader::pos(const YAML::Mark& m) const {
  // yaml-cpp marks are 0-based.
  return {file_, m.line >= 0 ? m.line + 1 : 1, m.column >= 0 ? m.column + 1 : 1};
}

std::optional<fields> reader::read_map(const field& f, const schema& s) {
  if (!f.value.IsMap()) {
    error(f, "invalid '" + f.key + "': expected a map, got " + describe(f.value));
    return std::nullopt;
  }
  fields out;
  out.mark = f.value.Mark();
  for (auto it = f.value.begin(); it != f.value.end(); ++it) {
    field item{"", it->first, it->second};
    if (!it->first.IsScalar()) {
      error(it->first.Mark(), "expected a key name in " + std::string(s.what) + ", got " +
                                  describe(it->first));
      continue;
    }
    item.key = it->first.Scalar();
    const auto is = [&](std::string_view k) { return k == item.key; };
    if (std::any_of(s.unsupported.begin(), s.unsupported.end(), is)) {
      error(it->first.Mark(), "'" + item.key + "' is not supported by this version of lb");
    } else if (std::none_of(s.keys.begin(), s.keys.end(), is)) {
      error(it->first.Mark(), "unknown key '" + item.key + "' in " + std::string(s.what) +
                                  " (expected one of: " + join(s.keys) + ")");
    } else if (out.get(item.key)) {
      error(it->first.Mark(), "duplicate key '" + item.key + "' in " + std::string(s.what));
    } else {
      out.items.push_back(std::move(item));
    }
  }
  return out;
}

bool reader::require(const fields& m, std::string_view key, std::string_view what) {
  if (m.get(key)) return true;
  error(m.mark, "missing required key '" + std::string(key) + "' in " + std::string(what));
  return false;
}

std::optional<std::vector<field>> reader::read_list(const field& f, std::string_view item, bool may_be_empty) {
  if (!f.value.IsSequence()) {
    error(f, "invalid '" + f.key + "': expected a list, got " + describe(f.value));
    return std::nullopt;
  }
  if (f.value.size() == 0 && !may_be_empty) {
    error(f, "'" + f.key + "' must not be empty");
    return std::nullopt;
  }
  std::vector<field> out;
  for (const auto& n : f.value) out.push_back({std::string(item), n, n});
  return out;
}

std::optional<std::string> reader::read_string(const field& f) {
  if (!f.value.IsScalar()) {
    error(f, "invalid '" + f.key + "': expected a string, got " + describe(f.value));
    return std::nullopt;
  }
  return f.value.Scalar();
}

std::optional<std::uint64_t> reader::read_uint(const field& f, std::uint64_t min,
                                               std::uint64_t max) {
  std::optional<std::uint64_t> v;
  if (f.value.IsScalar()) v = parse_digits(f.value.Scalar());
  if (!v || *v < min || *v > max) {
    error(f, "invalid '" + f.key + "': expected " + range_text(min, max) + ", got " +
                 describe(f.value));
    return std::nullopt;
  }
  return v;
}

std::optional<duration> reader::read_duration(const field& f, bool allow_zero) {
  std::optional<duration> d;
  if (f.value.IsScalar()) d = parse_duration(f.value.Scalar());
  if (!d) {
    error(f, "invalid '" + f.key + "': expected a duration like \"250ms\" or \"2s\", got " +
                 describe(f.value));
    return std::nullopt;
  }
  if (!allow_zero && d->count() == 0) {
    error(f, "invalid '" + f.key + "': must be greater than 0");
    return std::nullopt;
  }
  return d;
}

std::optional<address> reader::read_address(const field& f, address_use use) {
  std::optional<address> a;
  if (f.value.IsScalar()) a = parse_address(f.value.Scalar());
  if (!a) {
    const std::string hint = f.value.IsScalar() ? address_hint(f.value.Scalar()) : "";
    error(f, "invalid '" + f.key + "': expected an address like \"127.0.0.1:8080\" or " +
                 "\"[::1]:8080\", got " + describe(f.value) + hint);
    return std::nullopt;
  }
  if (use == address_use::listen && a->is_hostname) {
    error(f, "invalid '" + f.key + "': must be an IP address (lb does not resolve names to " +
                 "listen on), got " + describe(f.value));
    return std::nullopt;
  }
  if (use == address_use::endpoint && a->port == 0) {
    error(f, "invalid '" + f.key + "': an endpoint's port must not be 0");
    return std::nullopt;
  }
  return a;
}

std::optional<std::string> reader::read_name(const field& f, std::string_view what) {
  auto s = read_string(f);
  if (s && !is_name(*s)) {
    error(f, "invalid " + std::string(what) + " name " + describe(f.value) +
                 ": use 1 to 128 letters, digits, '_', '.' or '-'");
    return std::nullopt;
  }
  return s;
}

}  // namespace lb::config::yaml
