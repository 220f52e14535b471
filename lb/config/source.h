#pragma once
// Where the config comes from. A source reads its input (a YAML file today,
// Kubernetes objects later) and hands back the same validated `config`, or
// every problem it found. All of it runs on the control thread, never on a
// worker.

#include <memory>
#include <string>
#include <vector>

#include "lb/config/config.h"
#include "lb/config/diagnostic.h"

namespace lb::config {

struct load_result {
  std::shared_ptr<const config> cfg;  // set only when `errors` is empty
  std::vector<diagnostic> errors;     // every problem found, in source order
  // What was read, to tell a later change from this one without decoding it
  // again: compare with config_source::digest(). Empty when nothing was read.
  std::string digest;

  bool ok() const { return errors.empty(); }
};

class config_source {
 public:
  virtual ~config_source() = default;

  // Thread: control. Reads the source once, decodes it and runs cross_check()
  // over the result. Returns the config, or every problem found (syntax,
  // types, ranges, names, references) as diagnostics; an unreadable source is
  // one diagnostic too. Never throws.
  virtual load_result load() = 0;

  // Thread: control. The source's digest as it is now, read without decoding.
  // A caller keeps the digest of its last good load() and loads again only
  // when this one differs. Empty when the source cannot be read right now
  // (which is no reason to load).
  virtual std::string digest() = 0;

  // Thread: any. The source in words for messages and logs (the file path).
  virtual std::string describe() const = 0;
};

}  // namespace lb::config
