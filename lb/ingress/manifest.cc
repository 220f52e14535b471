#include "lb/ingress/manifest.h"

#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include "lb/config/parse.h"

namespace lb::ingress {
namespace {

using json = nlohmann::json;

// YAML as the API server reads it: a plain scalar is null, a boolean or an
// integer when it looks like one; a quoted one is always a string (so
// annotations written "true" stay strings, as the API requires).
json scalar(const YAML::Node& n) {
  const auto& s = n.Scalar();
  if (n.Tag() == "!") return s;
  if (s == "null" || s == "~" || s.empty()) return nullptr;
  if (s == "true") return true;
  if (s == "false") return false;
  const bool negative = s.front() == '-';
  if (const auto v = config::parse_digits(negative ? std::string_view(s).substr(1) : std::string_view(s));
      v && *v <= static_cast<std::uint64_t>(INT64_MAX))
    return negative ? -static_cast<std::int64_t>(*v) : static_cast<std::int64_t>(*v);
  return s;
}

json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) out[kv.first.as<std::string>()] = to_json(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar: return scalar(n);
    default: return nullptr;
  }
}

}  // namespace

std::string read_manifests(const std::string& text, const std::string& name, cluster& objects) {
  try {
    for (const auto& doc : YAML::LoadAll(text)) {
      if (doc.IsNull()) continue;
      objects.add(to_json(doc));
    }
  } catch (const YAML::Exception& e) {
    return name + ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1) + ": " + e.msg;
  }
  return {};
}

}  // namespace lb::ingress
