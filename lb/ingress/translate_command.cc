#include "lb/ingress/translate_command.h"

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <boost/program_options.hpp>
#include <nlohmann/json.hpp>

#include "lb/config/parse.h"
#include "lb/core/log.h"
#include "lb/ingress/config_yaml.h"
#include "lb/ingress/manifest.h"
#include "lb/ingress/translate.h"
#include "lb/kube/credentials.h"
#include "lb/kube/list_once.h"

namespace lb::ingress {
namespace {

namespace po = boost::program_options;
namespace fs = std::filesystem;

bool read_input(const std::string& path, cluster& objects) {
  std::vector<fs::path> files;
  std::error_code ec;
  if (path != "-" && fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      const auto ext = e.path().extension();
      if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.emplace_back(path);
  }
  for (const auto& f : files) {
    std::stringstream text;
    if (f == "-") {
      text << std::cin.rdbuf();
    } else {
      std::ifstream in(f, std::ios::binary);
      if (!in) {
        std::cerr << "lb: " << f.string() << ": cannot read: " << std::strerror(errno) << '\n';
        return false;
      }
      text << in.rdbuf();
    }
    if (const auto e = read_manifests(text.str(), f.string(), objects); !e.empty()) {
      std::cerr << "lb: " << e << '\n';
      return false;
    }
  }
  return true;
}

bool write_file(const pem_file& f) {
  std::error_code ec;
  fs::create_directories(fs::path(f.path).parent_path(), ec);
  const auto tmp = f.path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    // A key is readable by its owner only, from its first byte on.
    if (f.secret) ::chmod(tmp.c_str(), 0600);
    out << f.content;
    if (!out.flush()) return false;
  }
  fs::rename(tmp, f.path, ec);
  return !ec;
}

nlohmann::json report_json(const translation& t) {
  auto out = nlohmann::json::array();
  for (const auto& r : t.report) {
    auto notes = nlohmann::json::array();
    for (const auto& n : r.notes)
      notes.push_back({{"level", fidelity_name(n.level)}, {"subject", n.subject}, {"text", n.text}});
    out.push_back({{"kind", r.kind}, {"name", r.key}, {"level", fidelity_name(r.level)}, {"served", r.served},
                   {"notes", notes}});
  }
  return out;
}

void report_comments(std::ostream& os, const translation& t) {
  os << "# lb ingress translate: one line per object, then its notes.\n";
  for (const auto& r : t.report) {
    os << "# " << r.kind << ' ' << r.key << ": " << fidelity_name(r.level) << (r.served ? "" : ", not served") << '\n';
    for (const auto& n : r.notes)
      os << "#   " << fidelity_name(n.level) << ": " << (n.subject.empty() ? "" : n.subject + ": ") << n.text << '\n';
  }
}

// The cluster's objects as they are now, through the controller's own client.
bool read_cluster(const po::variables_map& vm, cluster& objects) {
  // stdout is the config; the client's progress is no news, its trouble is.
  log::set_min_level(log::level::warn);
  kube::credentials creds;
  std::string why;
  const bool ok = vm.count("in-cluster")
                      ? kube::from_in_cluster(creds, why)
                      : kube::from_kubeconfig(creds, why, vm["kubeconfig"].as<std::string>(),
                                              vm.count("context") ? vm["context"].as<std::string>() : std::string());
  std::vector<nlohmann::json> items;
  const auto ns = vm.count("namespace") ? vm["namespace"].as<std::string>() : std::string();
  const auto limit = std::chrono::seconds(vm["timeout"].as<unsigned>());
  if (!ok || !kube::list_once(creds, kube::ingress_resources(), ns, limit, items, why)) {
    std::cerr << "lb: cannot read the cluster: " << why << '\n';
    return false;
  }
  for (const auto& i : items) objects.add(i);
  return true;
}

}  // namespace

int translate_command(int argc, char** argv) {
  po::options_description opts(
      "Usage: lb ingress translate [-f FILE|DIR|-]... [--kubeconfig FILE | --in-cluster] [options]\n"
      "Prints the lb config made of Kubernetes objects (Ingress, IngressClass, Service,\n"
      "EndpointSlice, kubernetes.io/tls Secret) from manifests or a cluster, headed by a\n"
      "report per object as comments.\nOptions");
  opts.add_options()
      ("filename,f", po::value<std::vector<std::string>>(), "a manifest file (YAML or JSON), a folder of them, or - for stdin")
      ("kubeconfig", po::value<std::string>(), "read the objects from the cluster of this kubeconfig (its current context)")
      ("context", po::value<std::string>(), "with --kubeconfig: this context instead")
      ("in-cluster", "read the objects from the cluster this pod runs in (its service account)")
      ("namespace,n", po::value<std::string>(), "with a cluster: this namespace only (default: all)")
      ("timeout", po::value<unsigned>()->default_value(30), "with a cluster: seconds to list everything")
      ("class", po::value<std::string>()->default_value("lb"), "the IngressClass to serve (use the old one, e.g. nginx, to migrate)")
      ("controller", po::value<std::string>()->default_value("lb.dev/ingress"), "IngressClasses with this spec.controller are served too")
      ("take-unclassed", "serve Ingresses that name no class (ingress-nginx's --watch-ingress-without-class)")
      ("annotations-prefix", po::value<std::string>()->default_value(std::string(nginx_prefix)), "the annotations' prefix")
      ("http", po::value<std::string>()->default_value("0.0.0.0:80"), "the HTTP listener's address")
      ("https", po::value<std::string>()->default_value("0.0.0.0:443"), "the HTTPS listener's address")
      ("passthrough-listen", po::value<std::string>()->default_value("127.0.0.1:442"),
       "with ssl-passthrough Ingresses: where TLS is terminated behind the HTTPS listener's SNI routes")
      ("tls-dir", po::value<std::string>(), "write the Secrets' certificates and keys here (keys 0600); without it "
                                             "the config names files under /var/run/lb/tls and none is written")
      ("report-json", po::value<std::string>(), "also write the report as JSON to this file")
      ("help,h", "print this help");
  po::positional_options_description positional;
  positional.add("filename", -1);
  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(opts).positional(positional).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << "lb: " << e.what() << '\n' << opts << '\n';
    return 2;
  }
  if (vm.count("help")) {
    std::cout << opts << '\n';
    return 0;
  }
  const bool from_cluster = vm.count("kubeconfig") || vm.count("in-cluster");
  if (!vm.count("filename") && !from_cluster) {
    std::cerr << "lb: ingress translate needs manifests (-f FILE|DIR|-) or a cluster (--kubeconfig, --in-cluster)\n"
              << opts << '\n';
    return 2;
  }
  if (vm.count("kubeconfig") && vm.count("in-cluster")) {
    std::cerr << "lb: --kubeconfig and --in-cluster are two ways to the cluster: give one\n";
    return 2;
  }
  options o;
  o.class_name = vm["class"].as<std::string>();
  o.controller = vm["controller"].as<std::string>();
  o.take_unclassed = vm.count("take-unclassed") > 0;
  o.annotations_prefix = vm["annotations-prefix"].as<std::string>();
  for (const auto& [flag, into] : {std::pair{"http", &o.http}, std::pair{"https", &o.https},
                                   std::pair{"passthrough-listen", &o.passthrough_listen}}) {
    const auto a = config::parse_address(vm[flag].as<std::string>());
    if (!a || a->is_hostname) {
      std::cerr << "lb: --" << flag << " must be an IP address and port, like 0.0.0.0:80\n";
      return 2;
    }
    *into = *a;
  }
  if (vm.count("tls-dir")) o.tls_dir = fs::absolute(vm["tls-dir"].as<std::string>()).lexically_normal().string();

  cluster objects;
  if (vm.count("filename"))
    for (const auto& f : vm["filename"].as<std::vector<std::string>>())
      if (!read_input(f, objects)) return 2;
  if (from_cluster && !read_cluster(vm, objects)) return 2;
  const auto t = translate(objects, o);
  if (vm.count("tls-dir")) {
    for (const auto& f : t.files) {
      if (!write_file(f)) {
        std::cerr << "lb: cannot write " << f.path << ": " << std::strerror(errno) << '\n';
        return 2;
      }
    }
  }
  if (vm.count("report-json")) {
    std::ofstream out(vm["report-json"].as<std::string>());
    out << report_json(t).dump(2) << '\n';
    if (!out) {
      std::cerr << "lb: cannot write " << vm["report-json"].as<std::string>() << '\n';
      return 2;
    }
  }
  report_comments(std::cout, t);
  std::cout << to_yaml(t.cfg);
  const bool all_served = std::all_of(t.report.begin(), t.report.end(), [](const object_report& r) {
    return r.level == fidelity::supported || r.level == fidelity::approximated;
  });
  return all_served ? 0 : 1;
}

}  // namespace lb::ingress
