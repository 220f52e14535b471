#include "lb/config/loader.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <utility>

#include "lb/config/cross_check.h"
#include "lb/config/decode.h"
#include "lb/config/yaml_reader.h"

namespace lb::config {
namespace {

load_result decode(std::string_view text, const std::string& name, const load_options& opts) {
  yaml::reader r(name);
  auto cfg = std::make_shared<config>();
  cfg->source = name;
  try {
    const YAML::Node root = YAML::Load(std::string(text));
    if (root.IsNull()) {
      r.error(YAML::Mark::null_mark(), "config is empty");
    } else {
      yaml::decode_top(r, root, *cfg, opts.kubernetes);
      for (auto& d : cross_check(*cfg)) r.report(std::move(d));
    }
  } catch (const YAML::ParserException& e) {
    r.error(e.mark, "YAML syntax error: " + e.msg);
  } catch (const YAML::Exception& e) {
    r.error(e.mark, "cannot load config: " + e.msg);
  } catch (const std::exception& e) {
    r.error(YAML::Mark::null_mark(), std::string("cannot load config: ") + e.what());
  }
  load_result out;
  out.errors = r.take_errors();
  // Checks run in passes (sections, then cross_check), so restore file order.
  std::stable_sort(out.errors.begin(), out.errors.end(), [](const auto& a, const auto& b) {
    return std::pair(a.line, a.column) < std::pair(b.line, b.column);
  });
  if (out.errors.empty()) out.cfg = std::move(cfg);
  return out;
}

}  // namespace

load_result load_string(std::string_view yaml, const std::string& name, const load_options& opts) {
  try {
    return decode(yaml, name, opts);
  } catch (const std::exception& e) {  // only allocation failure can get here
    load_result out;
    out.errors.push_back({name, 1, 1, std::string("cannot load config: ") + e.what()});
    return out;
  }
}

}  // namespace lb::config
