#pragma once
// One line of a watch stream, decoded: {"type":"ADDED","object":{...}}.
// BOOKMARK carries only a resourceVersion; ERROR carries a Status whose code
// 410 means the resourceVersion left the server's history (re-list).

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace lb::kube {

enum class event_type { added, modified, deleted, bookmark, error };

// "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR".
const char* to_string(event_type t);

struct watch_event {
  event_type type = event_type::error;
  nlohmann::json object;          // the object (or the Status of an ERROR)
  std::string resource_version;   // object.metadata.resourceVersion; empty for ERROR
  int code = 0;                   // ERROR: the Status code (410: Gone)
  std::string message;            // ERROR: the Status message
};

// Thread: any. False with `why` when the line is not JSON, has an unknown
// type, or an event other than ERROR lacks metadata.resourceVersion. Never throws.
bool parse_watch_line(std::string_view line, watch_event& out, std::string& why);

// Thread: any. The `message` (and `reason`) of a Status body, or a prefix of
// the raw body when it is not one: for error logs.
std::string status_message(std::string_view body);

}  // namespace lb::kube
