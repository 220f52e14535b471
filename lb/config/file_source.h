#pragma once
// The config as a YAML file (`lb --config FILE`).

#include <string>
#include <utility>

#include "lb/config/loader.h"
#include "lb/config/source.h"

namespace lb::config {

class file_source final : public config_source {
 public:
  explicit file_source(std::string path, load_options opts = {}) : path_(std::move(path)), opts_(opts) {}

  // Thread: control. Reads the file once and decodes it with load_string();
  // diagnostics name the path as given. The digest is the file's bytes. A
  // file that cannot be read is one diagnostic, "PATH:1:1: cannot read config
  // file: REASON". Never throws.
  load_result load() override;

  // Thread: control. The file's bytes now; empty when it cannot be read (or
  // is empty, as while an editor rewrites it).
  std::string digest() override;

  // Thread: any. The path as given.
  std::string describe() const override { return path_; }

 private:
  std::string path_;
  load_options opts_;
};

}  // namespace lb::config
