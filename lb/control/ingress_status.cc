#include "lb/control/ingress_status.h"

#include <unistd.h>

#include <cstdlib>

#include <boost/asio/post.hpp>

#include "lb/core/log.h"
#include "lb/kube/writer.h"

namespace lb::control {
namespace {

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "lb";
  return buf;
}

// An Event's message is for people reading `kubectl describe`: kept short.
std::string clipped(std::string s) {
  constexpr std::size_t limit = 1024;
  if (s.size() > limit) s.resize(limit);
  return s;
}

std::string with_namespace(const std::string& ns, const kube::credentials& creds) {
  return ns.empty() ? own_namespace(creds) : ns;
}

}  // namespace

std::string own_namespace(const kube::credentials& creds) {
  if (const char* ns = std::getenv("POD_NAMESPACE"); ns && *ns) return ns;
  return creds.namespace_.empty() ? "default" : creds.namespace_;
}

ingress_status::ingress_status(boost::asio::io_context& control) : control_(control) {}

ingress_status::~ingress_status() { stop(); }

void ingress_status::stop() {
  if (!writer_) return;
  writer_->stop();
  writer_.reset();
  settings_.clear();
}

bool ingress_status::configure(const config::kubernetes& k, const kube::credentials& creds, std::string& why) {
  const auto& e = k.leader_election;
  fixed_ = !k.status.addresses.empty();
  publish_name_ = k.status.publish_name;
  publish_ns_ = publish_name_.empty() ? std::string() : with_namespace(k.status.publish_namespace, creds);
  if (fixed_) {
    std::vector<kube::lb_address> fixed;
    for (const auto& a : k.status.addresses) fixed.push_back(kube::make_address(a));
    fixed = kube::normalized(std::move(fixed));
    if (fixed != addresses_) {
      addresses_ = std::move(fixed);
      write_statuses();
    }
  }
  events_ = k.events;
  if (!k.status.enabled() && !k.events) {
    stop();
    return true;
  }
  kube::lease_options lease;
  election_ = !e.lease_name.empty();
  if (election_) {
    lease.namespace_ = with_namespace(e.lease_namespace, creds);
    lease.name = e.lease_name;
    lease.identity = e.identity.empty() ? host_name() : e.identity;
    lease.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(e.lease_duration);
    lease.renew_deadline = e.renew_deadline;
    lease.retry_period = e.retry_period;
  }
  // The writer restarts only when where or how it writes changed: a restart
  // gives up the Lease.
  std::string settings = creds.host + '\0' + std::to_string(creds.port) + '\0' + creds.token + '\0' +
                         creds.token_file + '\0' + creds.ca_pem + '\0' + creds.client_cert_pem;
  if (election_)
    settings += '\0' + lease.namespace_ + '\0' + lease.name + '\0' + lease.identity + '\0' +
                std::to_string(lease.lease_duration.count()) + '\0' + std::to_string(lease.renew_deadline.count()) +
                '\0' + std::to_string(lease.retry_period.count());
  if (writer_ && settings == settings_) return true;
  stop();
  auto w = std::make_unique<kube::writer>(creds, kube::writer_options{});
  if (election_) {
    w->elect(lease, [this, alive = std::weak_ptr<bool>(alive_), identity = lease.identity](bool leading) {
      // The writer's thread: take it over to the control thread.
      boost::asio::post(control_, [this, alive, leading, identity] {
        if (alive.expired()) return;
        log::info(leading ? "leading: this replica writes Ingress status and Events"
                          : "no longer leading: another replica writes Ingress status and Events",
                  {{"identity", identity}});
        if (leading) write_statuses();
      });
    });
  }
  if (!w->start(why)) return false;
  writer_ = std::move(w);
  settings_ = std::move(settings);
  return true;
}

bool ingress_status::writing() const { return writer_ && (!election_ || writer_->leading()); }

void ingress_status::observe_ingress(const std::string& key, std::vector<kube::lb_address> status) {
  observed_[key] = std::move(status);
}

void ingress_status::forget_ingress(const std::string& key) { observed_.erase(key); }

void ingress_status::observe_publish_service(std::vector<kube::lb_address> addresses) {
  if (fixed_ || publish_name_.empty()) return;
  if (known_ && addresses == addresses_) return;
  known_ = true;
  addresses_ = std::move(addresses);
  write_statuses();
}

void ingress_status::write_statuses() {
  // Until the published Service is seen, its addresses are unknown, not none:
  // writing would clear the status another replica set.
  if (!writing() || (!fixed_ && (publish_name_.empty() || !known_))) return;
  for (const auto& key : served_) {
    const auto seen = observed_.find(key);
    if (seen != observed_.end() && seen->second == addresses_) continue;
    const auto slash = key.find('/');
    if (slash == std::string::npos) continue;
    writer_->set_ingress_status(key.substr(0, slash), key.substr(slash + 1), addresses_,
                                seen == observed_.end() ? std::nullopt : std::optional(seen->second));
  }
}

void ingress_status::publish(const ingress::cluster& objects, const std::vector<ingress::object_report>& report) {
  served_.clear();
  for (const auto& r : report)
    if (r.kind == "Ingress" && r.served) served_.insert(r.key);
  write_statuses();
  if (!events_ || !writing()) return;
  for (const auto& r : report) {
    // Ingresses of other classes are reported as not served, with no problem.
    if (r.kind != "Ingress" || r.level == ingress::fidelity::supported ||
        r.level == ingress::fidelity::approximated)
      continue;
    const auto it = objects.ingresses.find(r.key);
    if (it == objects.ingresses.end()) continue;
    const auto& m = it->second.meta;
    const kube::object_ref ref{"Ingress", m.namespace_, m.name, m.uid, "networking.k8s.io/v1", m.resource_version};
    for (const auto& n : r.notes) {
      if (n.level != ingress::fidelity::unsupported && n.level != ingress::fidelity::rejected) continue;
      const bool rejected = n.level == ingress::fidelity::rejected;
      // The writer sends the same (object, reason, message) at most once per
      // ten minutes: every reload may call this.
      writer_->emit_event(ref, kube::event_severity::warning, rejected ? "Rejected" : "Unsupported",
                          clipped((n.subject.empty() ? std::string() : n.subject + ": ") + n.text +
                                  (rejected ? " (the Ingress is not served)" : " (ignored)")));
    }
  }
}

}  // namespace lb::control
