#pragma once
// The YAML reader primitives the section decoders (decode.h) share: typed
// reads of one value that report what is wrong with it at its FILE:LINE:COL
// and leave the target untouched. Control thread only.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "lb/config/config.h"
#include "lb/config/diagnostic.h"

namespace lb::config::yaml {

inline constexpr std::uint64_t no_max = std::numeric_limits<std::uint64_t>::max();
inline constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();

// The keys one YAML map may hold. `unsupported` are DESIGN.md keys this build
// does not implement: they get a clearer message than "unknown key".
struct schema {
  std::string_view what;  // "listener", as used in messages
  std::vector<std::string_view> keys;
  std::vector<std::string_view> unsupported;
};

// One `key: value` of a map, or one list item (then `key` names the item kind).
struct field {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// A map's known keys in file order, plus the map's own position for
// "missing key" errors.
struct fields {
  YAML::Mark mark;
  std::vector<field> items;

  const field* get(std::string_view key) const {
    for (const auto& f : items) {
      if (f.key == key) return &f;
    }
    return nullptr;
  }
};

// "a, b, c", for "expected one of" lists.
std::string join(const std::vector<std::string_view>& v);

// How a node reads in "got ..." messages.
std::string describe(const YAML::Node& n);

// An empty value's mark points past it (often at the next line), so errors
// about it go to its key instead.
YAML::Mark mark_of(const field& f);

enum class address_use { listen, endpoint };

// Collects the diagnostics of one file. Each read_* reports its own problem
// and returns nullopt (or false), so a decoder can carry on and find the next.
class reader {
 public:
  explicit reader(std::string file) : file_(std::move(file)) {}

  // `m` as a 1-based position in this file; a null mark (-1) means
  // "somewhere in the file" and reads as 1:1.
  source_pos pos(const YAML::Mark& m) const;
  source_pos pos(const field& f) const { return pos(mark_of(f)); }

  void error(const YAML::Mark& m, std::string message) {
    report(diagnostic::at(pos(m), std::move(message)));
  }
  void error(const field& f, std::string message) { error(mark_of(f), std::move(message)); }
  void report(diagnostic d) { errors_.push_back(std::move(d)); }

  // Every problem reported so far, in the order reported; empties the list.
  std::vector<diagnostic> take_errors() { return std::move(errors_); }

  // A map whose keys are all in `s` (unknown, unsupported and duplicate keys
  // are reported and left out).
  std::optional<fields> read_map(const field& f, const schema& s);
  // Reports `key` missing from `m`, which is a `what`.
  bool require(const fields& m, std::string_view key, std::string_view what);
  // A non-empty list; each item's `key` is `item`.
  // An empty list is an error unless `may_be_empty`.
  std::optional<std::vector<field>> read_list(const field& f, std::string_view item, bool may_be_empty = false);

  std::optional<std::string> read_string(const field& f);
  // Digits only (parse_digits), from `min` to `max` inclusive.
  std::optional<std::uint64_t> read_uint(const field& f, std::uint64_t min, std::uint64_t max);
  std::optional<duration> read_duration(const field& f, bool allow_zero);
  // A listen address must be a literal IP; an endpoint's port must not be 0.
  std::optional<address> read_address(const field& f, address_use use);
  // A name (is_name) of a `what` ("pool", ...).
  std::optional<std::string> read_name(const field& f, std::string_view what);

 private:
  std::string file_;
  std::vector<diagnostic> errors_;
};

}  // namespace lb::config::yaml
