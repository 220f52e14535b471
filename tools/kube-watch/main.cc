// lb-kube-watch: runs lb::kube::watcher against an API server and prints one
// JSON line per delivery on stdout (flushed at once), logs on stderr:
//   {"resource":"services","type":"LIST","items":["ns/name",...],"rv":"12"}
//   {"resource":"services","type":"ADDED","namespace":"ns","name":"web","rv":"13"}
//   {"type":"SYNCED"}                      (every resource listed once)
//   {"resource":"services","type":"BOOKMARK","rv":"20"}   (with --bookmarks)
// Exits 0 on SIGTERM or SIGINT, 2 on bad arguments or credentials.

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lb/core/log.h"
#include "lb/kube/credentials.h"
#include "lb/kube/watcher.h"

namespace {

using namespace lb::kube;
using nlohmann::json;

constexpr const char* usage =
    "usage: lb-kube-watch [--kubeconfig FILE [--context NAME]] [--namespace NS]\n"
    "                     [--resources ingresses,ingressclasses,services,secrets,endpointslices]\n"
    "                     [--list-limit N] [--watch-timeout SECONDS] [--backoff-initial-ms MS]\n"
    "                     [--backoff-max-ms MS] [--bookmarks] [--service-account-dir DIR]\n"
    "                     [--label-selector SEL] [--field-selector SEL]\n"
    "Without --kubeconfig: in-cluster credentials (KUBERNETES_SERVICE_HOST, the service account\n"
    "token, ca.crt and namespace in DIR, default /var/run/secrets/kubernetes.io/serviceaccount).\n";

void print(const json& j) {
  const auto line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

std::string meta(const json& obj, const char* key) {
  const auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return {};
  return m->value(key, std::string{});
}

class printer : public watch_sink {
 public:
  explicit printer(bool bookmarks) : bookmarks_(bookmarks) {}
  void on_list(const resource& r, std::vector<json> items, const std::string& rv) override {
    json names = json::array();
    for (const auto& item : items) {
      const auto ns = meta(item, "namespace");
      names.push_back(ns.empty() ? meta(item, "name") : ns + "/" + meta(item, "name"));
    }
    print({{"resource", r.name}, {"type", "LIST"}, {"items", names}, {"rv", rv}});
  }
  void on_event(const resource& r, event_type type, json object) override {
    print({{"resource", r.name},
           {"type", to_string(type)},
           {"namespace", meta(object, "namespace")},
           {"name", meta(object, "name")},
           {"rv", meta(object, "resourceVersion")}});
  }
  void on_bookmark(const resource& r, const std::string& rv) override {
    if (bookmarks_) print({{"resource", r.name}, {"type", "BOOKMARK"}, {"rv", rv}});
  }
  void on_synced() override { print({{"type", "SYNCED"}}); }

 private:
  bool bookmarks_;
};

bool parse_number(const char* text, long& out) {
  char* end = nullptr;
  out = std::strtol(text, &end, 10);
  return end && *end == '\0' && out > 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig, context, sa_dir = service_account_dir, resources = "ingresses,ingressclasses,services,secrets,endpointslices";
  watch_options opts;
  std::string label_selector, field_selector;
  bool bookmarks = false;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    long n = 0;
    if (a == "--kubeconfig" && has_value) kubeconfig = argv[++i];
    else if (a == "--context" && has_value) context = argv[++i];
    else if (a == "--namespace" && has_value) opts.namespace_ = argv[++i];
    else if (a == "--resources" && has_value) resources = argv[++i];
    else if (a == "--service-account-dir" && has_value) sa_dir = argv[++i];
    else if (a == "--label-selector" && has_value) label_selector = argv[++i];
    else if (a == "--field-selector" && has_value) field_selector = argv[++i];
    else if (a == "--bookmarks") bookmarks = true;
    else if (a == "--list-limit" && has_value && parse_number(argv[++i], n)) opts.list_limit = static_cast<unsigned>(n);
    else if (a == "--watch-timeout" && has_value && parse_number(argv[++i], n)) opts.watch_timeout = std::chrono::seconds(n);
    else if (a == "--backoff-initial-ms" && has_value && parse_number(argv[++i], n))
      opts.backoff.initial = std::chrono::milliseconds(n);
    else if (a == "--backoff-max-ms" && has_value && parse_number(argv[++i], n))
      opts.backoff.max = std::chrono::milliseconds(n);
    else {
      std::cerr << (a == "--help" ? "" : "lb-kube-watch: bad argument '" + std::string(a) + "'\n") << usage;
      return a == "--help" ? 0 : 2;
    }
  }

  credentials creds;
  std::string why;
  const bool ok = kubeconfig.empty() ? from_in_cluster(creds, why, sa_dir) : from_kubeconfig(creds, why, kubeconfig, context);
  if (!ok) {
    std::cerr << "lb-kube-watch: " << why << "\n";
    return 2;
  }
  std::vector<resource> list;
  for (std::size_t start = 0; start <= resources.size();) {
    const auto comma = std::min(resources.find(',', start), resources.size());
    const auto name = resources.substr(start, comma - start);
    start = comma + 1;
    if (name.empty()) continue;
    auto r = known_resource(name);
    if (!r) {
      std::cerr << "lb-kube-watch: unknown resource '" << name << "'\n" << usage;
      return 2;
    }
    r->label_selector = label_selector;
    r->field_selector = field_selector;
    list.push_back(std::move(*r));
  }

  // Blocked before the watcher's thread starts, so it inherits the mask and
  // only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  printer out(bookmarks);
  watcher w(std::move(creds), std::move(list), opts, out);
  if (!w.start(why)) {
    std::cerr << "lb-kube-watch: " << why << "\n";
    return 2;
  }
  lb::log::info("kube watch started", {{"namespace", opts.namespace_.empty() ? "(all)" : opts.namespace_}});
  int sig = 0;
  sigwait(&stop_signals, &sig);
  w.stop();
  lb::log::info("kube watch stopped");
  return 0;
}
