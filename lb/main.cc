// lb: command line (DESIGN.md "Command line"): run, --check, --probe, --version.

#include <filesystem>
#include <iostream>

#include <boost/program_options.hpp>
#include <boost/version.hpp>
#include <openssl/opensslv.h>

#include "lb/config/file_source.h"
#include "lb/control/app.h"
#include "lb/control/probe.h"
#include "lb/core/log.h"
#include "lb/core/version.h"
#include "lb/ingress/translate_command.h"

namespace po = boost::program_options;

namespace {

std::string default_config() {
  if (std::filesystem::exists("config/lb.yaml")) return "config/lb.yaml";
  return "/etc/lb/lb.yaml";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 3 && std::string_view(argv[1]) == "ingress" && std::string_view(argv[2]) == "translate")
    return lb::ingress::translate_command(argc - 2, argv + 2);
  po::options_description opts("Usage: lb [--config FILE] [--kubernetes] [--check [--no-resolve]] [--probe URL] [--version]\n"
                                "       lb ingress translate -f MANIFESTS... (see lb ingress translate --help)\nOptions");
  opts.add_options()
      ("config,c", po::value<std::string>(), "config file (default: config/lb.yaml if present, else /etc/lb/lb.yaml)")
      ("kubernetes", "ingress controller mode: a config without 'kubernetes:' reads as if it had 'kubernetes: {}' "
                     "(the pod's service account; docs/ingress.md)")
      ("check,t", "validate the config, print each error as FILE:LINE:COL: message, and exit (0 valid, 1 invalid)")
      ("no-resolve", "with --check: do not resolve endpoint hostnames (check a config away from its network)")
      ("probe", po::value<std::string>(), "GET URL (http://HOST:PORT/PATH) and exit 0 on a 2xx answer within 2 s, else 1: a HEALTHCHECK without curl")
      ("log-level", po::value<std::string>()->default_value("info"), "debug | info | warn | error")
      ("version,v", "print version and build information")
      ("help,h", "print this help");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "lb: " << e.what() << "\n" << opts << '\n';
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << '\n';
    return 0;
  }
  if (vm.count("version")) {
    std::cout << "lb " << lb::version << " (git " << lb::git_revision << ", " << lb::build_type << ", boost "
              << BOOST_VERSION / 100000 << '.' << BOOST_VERSION / 100 % 1000 << ", " << OPENSSL_VERSION_TEXT
              << ")\n";
    return 0;
  }
  if (vm.count("probe")) return lb::control::probe(vm["probe"].as<std::string>(), std::chrono::seconds(2));
  const auto& level = vm["log-level"].as<std::string>();
  if (level == "debug") lb::log::set_min_level(lb::log::level::debug);
  else if (level == "warn") lb::log::set_min_level(lb::log::level::warn);
  else if (level == "error") lb::log::set_min_level(lb::log::level::error);
  else if (level != "info") {
    std::cerr << "lb: --log-level must be one of debug, info, warn, error\n";
    return 2;
  }

  const std::string path = vm.count("config") ? vm["config"].as<std::string>() : default_config();
  lb::config::load_options load;
  load.kubernetes = vm.count("kubernetes") > 0;
  if (vm.count("check")) {
    lb::config::file_source source(path, load);
    return lb::control::check(source, !vm.count("no-resolve"));
  }
  return lb::control::run(path, lb::control::launch_info_of(argc, argv), load);
}
