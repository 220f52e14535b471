#include "lb/kube/watch_event.h"

namespace lb::kube {

const char* to_string(event_type t) {
  switch (t) {
    case event_type::added: return "ADDED";
    case event_type::modified: return "MODIFIED";
    case event_type::deleted: return "DELETED";
    case event_type::bookmark: return "BOOKMARK";
    case event_type::error: return "ERROR";
  }
  return "?";
}

bool parse_watch_line(std::string_view line, watch_event& out, std::string& why) {
  auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    why = "watch line is not a JSON object";
    return false;
  }
  const auto type = j.find("type");
  const auto object = j.find("object");
  if (type == j.end() || !type->is_string() || object == j.end() || !object->is_object()) {
    why = "watch line lacks a type or an object";
    return false;
  }
  const auto& t = type->get_ref<const std::string&>();
  if (t == "ADDED") out.type = event_type::added;
  else if (t == "MODIFIED") out.type = event_type::modified;
  else if (t == "DELETED") out.type = event_type::deleted;
  else if (t == "BOOKMARK") out.type = event_type::bookmark;
  else if (t == "ERROR") out.type = event_type::error;
  else {
    why = "unknown watch event type '" + t + "'";
    return false;
  }
  out.object = std::move(*object);
  out.resource_version.clear();
  out.code = 0;
  out.message.clear();
  if (out.type == event_type::error) {
    out.code = out.object.value("code", 0);
    out.message = out.object.value("message", std::string{});
    return true;
  }
  const auto meta = out.object.find("metadata");
  if (meta == out.object.end() || !meta->is_object() || !meta->contains("resourceVersion") ||
      !(*meta)["resourceVersion"].is_string()) {
    why = std::string("watch ") + t + " event lacks metadata.resourceVersion";
    return false;
  }
  out.resource_version = (*meta)["resourceVersion"].get<std::string>();
  return true;
}

std::string status_message(std::string_view body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object() && j.value("kind", "") == "Status") {
    std::string m = j.value("message", "");
    if (const auto reason = j.value("reason", ""); !reason.empty()) m += " (" + reason + ")";
    return m;
  }
  return std::string(body.substr(0, 200));
}

}  // namespace lb::kube
