// lb-kube-write: runs lb::kube::writer against an API server (debugging, and
// tests/integration/kube). Commands come from the flags and then from stdin,
// one JSON object a line:
//   {"status":{"namespace":"ns","name":"web","addresses":["10.0.0.1","lb.example"],"current":[...]}}
//   {"event":{"kind":"Ingress","namespace":"ns","name":"web","uid":"...","apiVersion":"networking.k8s.io/v1",
//             "resourceVersion":"7","type":"Warning","reason":"Rejected","message":"..."}}
// ("current" and the event's uid, apiVersion and resourceVersion optional).
// Prints JSON lines on stdout (flushed at once), logs on stderr:
//   {"queued":"status"} / {"queued":"event"}   (a command handed over)
//   {"error":"..."}                             (a command refused)
//   {"leading":true,"identity":"pod-a"}         (with --lease: every change)
//   {"stopped":true}                            (stop() returned)
// Exits 0 on SIGTERM or SIGINT (releasing a held lease), 2 on bad arguments
// or credentials.

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lb/kube/credentials.h"
#include "lb/kube/line_splitter.h"
#include "lb/kube/writer.h"

namespace {

using namespace lb::kube;
using nlohmann::json;

constexpr const char* usage =
    "usage: lb-kube-write [--kubeconfig FILE [--context NAME]] [--service-account-dir DIR]\n"
    "                     [--lease NS/NAME --identity ID [--lease-duration SECONDS]\n"
    "                      [--renew-deadline-ms MS] [--retry-period-ms MS]]\n"
    "                     [--backoff-initial-ms MS] [--backoff-max-ms MS] [--dedup-window SECONDS]\n"
    "                     [--set-status NS/NAME=ADDR[,ADDR...]]... [--command JSON]...\n"
    "Then reads commands (JSON lines, as --command) from stdin until SIGTERM.\n";

void print(const json& j) {
  const auto line = j.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

bool parse_number(const char* text, long& out) {
  char* end = nullptr;
  out = std::strtol(text, &end, 10);
  return end && *end == '\0' && out > 0;
}

bool split_ref(std::string_view text, std::string& ns, std::string& name) {
  const auto slash = text.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == text.size()) return false;
  ns = text.substr(0, slash);
  name = text.substr(slash + 1);
  return true;
}

std::vector<lb_address> addresses(const json& list) {
  std::vector<lb_address> out;
  for (const auto& a : list) out.push_back(make_address(a.get<std::string>()));
  return out;
}

// One command handed to `w`; false with `why` when it is malformed.
bool run_command(writer& w, std::string_view line, std::string& why) {
  const auto cmd = json::parse(line, nullptr, false);
  try {
    if (cmd.is_object() && cmd.contains("status")) {
      const auto& s = cmd["status"];
      std::optional<std::vector<lb_address>> current;
      if (s.contains("current")) current = addresses(s["current"]);
      w.set_ingress_status(s.at("namespace").get<std::string>(), s.at("name").get<std::string>(),
                           addresses(s.at("addresses")), std::move(current));
      print({{"queued", "status"}});
      return true;
    }
    if (cmd.is_object() && cmd.contains("event")) {
      const auto& e = cmd["event"];
      object_ref obj{e.value("kind", std::string("Ingress")), e.at("namespace").get<std::string>(),
                     e.at("name").get<std::string>(), e.value("uid", std::string{}),
                     e.value("apiVersion", std::string("networking.k8s.io/v1")),
                     e.value("resourceVersion", std::string{})};
      const auto type = e.value("type", std::string("Warning")) == "Normal" ? event_severity::normal
                                                                             : event_severity::warning;
      w.emit_event(std::move(obj), type, e.at("reason").get<std::string>(), e.at("message").get<std::string>());
      print({{"queued", "event"}});
      return true;
    }
  } catch (const json::exception& x) {
    why = x.what();
    return false;
  }
  why = "neither a status nor an event command";
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  std::string kubeconfig, context, sa_dir = service_account_dir, lease_ref;
  lease_options lease;
  writer_options opts;
  std::vector<std::string> commands;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    const bool has_value = i + 1 < argc;
    long n = 0;
    if (a == "--kubeconfig" && has_value) kubeconfig = argv[++i];
    else if (a == "--context" && has_value) context = argv[++i];
    else if (a == "--service-account-dir" && has_value) sa_dir = argv[++i];
    else if (a == "--lease" && has_value) lease_ref = argv[++i];
    else if (a == "--identity" && has_value) lease.identity = argv[++i];
    else if (a == "--lease-duration" && has_value && parse_number(argv[++i], n)) lease.lease_duration = std::chrono::seconds(n);
    else if (a == "--renew-deadline-ms" && has_value && parse_number(argv[++i], n))
      lease.renew_deadline = std::chrono::milliseconds(n);
    else if (a == "--retry-period-ms" && has_value && parse_number(argv[++i], n))
      lease.retry_period = std::chrono::milliseconds(n);
    else if (a == "--backoff-initial-ms" && has_value && parse_number(argv[++i], n))
      opts.backoff.initial = std::chrono::milliseconds(n);
    else if (a == "--backoff-max-ms" && has_value && parse_number(argv[++i], n))
      opts.backoff.max = std::chrono::milliseconds(n);
    else if (a == "--dedup-window" && has_value && parse_number(argv[++i], n))
      opts.event_dedup_window = std::chrono::seconds(n);
    else if (a == "--command" && has_value) commands.push_back(argv[++i]);
    else if (a == "--set-status" && has_value) {
      const std::string_view v = argv[++i];
      const auto eq = v.find('=');
      std::string ns, name;
      if (eq == std::string_view::npos || !split_ref(v.substr(0, eq), ns, name)) {
        std::cerr << "lb-kube-write: --set-status wants NS/NAME=ADDR[,ADDR...]\n";
        return 2;
      }
      json list = json::array();
      for (auto rest = v.substr(eq + 1); !rest.empty();) {
        const auto comma = std::min(rest.find(','), rest.size());
        if (comma > 0) list.push_back(std::string(rest.substr(0, comma)));
        rest.remove_prefix(std::min(comma + 1, rest.size()));
      }
      commands.push_back(json{{"status", {{"namespace", ns}, {"name", name}, {"addresses", list}}}}.dump());
    } else {
      std::cerr << (a == "--help" ? "" : "lb-kube-write: bad argument '" + std::string(a) + "'\n") << usage;
      return a == "--help" ? 0 : 2;
    }
  }
  if (!lease_ref.empty() && !split_ref(lease_ref, lease.namespace_, lease.name)) {
    std::cerr << "lb-kube-write: --lease wants NS/NAME\n";
    return 2;
  }

  credentials creds;
  std::string why;
  const bool ok = kubeconfig.empty() ? from_in_cluster(creds, why, sa_dir) : from_kubeconfig(creds, why, kubeconfig, context);
  if (!ok) {
    std::cerr << "lb-kube-write: " << why << "\n";
    return 2;
  }

  // Blocked before the writer's thread starts, so it inherits the mask and
  // only the signalfd below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  const int sigfd = signalfd(-1, &stop_signals, SFD_CLOEXEC);

  writer w(std::move(creds), opts);
  if (!lease_ref.empty()) {
    const auto identity = lease.identity;
    w.elect(lease, [identity](bool leading) { print({{"leading", leading}, {"identity", identity}}); });
  }
  if (!w.start(why)) {
    std::cerr << "lb-kube-write: " << why << "\n";
    return 2;
  }
  for (const auto& c : commands) {
    if (!run_command(w, c, why)) print({{"error", why}});
  }

  line_splitter lines(1 << 20);
  pollfd fds[2] = {{sigfd, POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
  nfds_t nfds = 2;
  for (;;) {
    if (poll(fds, nfds, -1) < 0) continue;  // EINTR
    if (fds[0].revents) break;
    if (nfds == 2 && fds[1].revents) {
      char buf[4096];
      const ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n <= 0) {
        nfds = 1;  // stdin closed: keep running until a signal
        continue;
      }
      lines.feed(std::string_view(buf, static_cast<std::size_t>(n)), [&](std::string_view line) {
        if (!run_command(w, line, why)) print({{"error", why}});
      });
    }
  }
  w.stop();
  print({{"stopped", true}});
  return 0;
}
