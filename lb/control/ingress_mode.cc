#include "lb/control/ingress_mode.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <boost/asio/post.hpp>

#include "lb/config/cross_check.h"
#include "lb/core/log.h"
#include "lb/kube/credentials.h"
#include "lb/kube/resource.h"

namespace lb::control {
namespace {

namespace fs = std::filesystem;

// What the watch depends on: a change restarts it.
std::string watch_identity(const config::kubernetes& k) {
  return k.kubeconfig + '\0' + k.namespace_ + '\0' + k.status.publish_namespace + '\0' + k.status.publish_name;
}

// The stream of the controller's own Service, when the watch is scoped to
// another namespace (else the Services stream sees it).
constexpr const char* publish_stream = "publish-service";

std::string key_of(const nlohmann::json& o) {
  const auto m = o.find("metadata");
  if (m == o.end() || !m->is_object()) return {};
  const auto text = [&](const char* k) {
    const auto it = m->find(k);
    return it != m->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  return text("namespace") + "/" + text("name");
}

ingress::options options_of(const config::kubernetes& k) {
  ingress::options o;
  o.class_name = k.ingress_class;
  o.controller = k.controller;
  o.take_unclassed = k.take_unclassed;
  o.http = k.http;
  o.https = k.https;
  o.passthrough_listen = k.passthrough_listen;
  o.tls_dir = k.tls_dir;
  o.annotations_prefix = k.annotations_prefix;
  return o;
}

}  // namespace

ingress_mode::ingress_mode(boost::asio::io_context& control, std::function<void()> changed,
                           std::chrono::milliseconds settle)
    : control_(control), changed_(std::move(changed)), settle_(settle), settle_timer_(control), status_(control) {}

ingress_mode::~ingress_mode() {
  if (watcher_) watcher_->stop();
  status_.stop();
}

void ingress_mode::push(delivery d) {
  bool wake = false;
  {
    std::lock_guard lock(inbox_mutex_);
    wake = inbox_.empty();
    inbox_.push_back(std::move(d));
  }
  inbox_cv_.notify_all();
  if (!wake) return;  // a drain is already on its way
  boost::asio::post(control_, [this] {
    if (!drain_inbox() || settle_pending_ || !watcher_) return;
    // A change after a quiet spell applies at once; during a burst (a
    // rollout) at most one reload per `settle_`, with what came meanwhile.
    const auto now = std::chrono::steady_clock::now();
    if (now >= last_change_ + settle_) {
      last_change_ = now;
      changed_();
      return;
    }
    settle_pending_ = true;
    settle_timer_.expires_at(last_change_ + settle_);
    settle_timer_.async_wait([this](const boost::system::error_code& ec) {
      settle_pending_ = false;
      if (ec || !watcher_) return;
      drain_inbox();
      last_change_ = std::chrono::steady_clock::now();
      changed_();
    });
  });
}

void ingress_mode::on_list(const kube::resource& r, std::vector<nlohmann::json> items, const std::string&) {
  push({r.name, r.kind, delivery::list, std::move(items)});
}

void ingress_mode::on_event(const kube::resource& r, kube::event_type type, nlohmann::json object) {
  if (type != kube::event_type::added && type != kube::event_type::modified && type != kube::event_type::deleted)
    return;
  delivery d{r.name, r.kind, type == kube::event_type::deleted ? delivery::remove : delivery::upsert, {}};
  d.objects.push_back(std::move(object));
  push(std::move(d));
}

void ingress_mode::on_synced() {
  {
    std::lock_guard lock(inbox_mutex_);
    synced_ = true;
  }
  inbox_cv_.notify_all();
  boost::asio::post(control_, [this] {
    taken_in_sync_ = true;
    log::info("kubernetes objects listed", {{"ingresses", std::to_string(objects_.ingresses.size())},
                                            {"services", std::to_string(objects_.services.size())},
                                            {"endpointslices", std::to_string(objects_.slices.size())}});
  });
}

bool ingress_mode::ingress_changed(const nlohmann::json& o, const std::string& key) {
  // What the translation reads: everything but the status and the bookkeeping
  // every write changes. lb's own status write comes back as a MODIFIED
  // event and must not reload.
  nlohmann::json copy = o;
  copy.erase("status");
  if (auto m = copy.find("metadata"); m != copy.end() && m->is_object()) {
    m->erase("resourceVersion");
    m->erase("managedFields");
  }
  const auto fp = std::hash<std::string>{}(copy.dump());
  auto [it, fresh] = ingress_fingerprints_.try_emplace(key, fp);
  if (!fresh && it->second == fp) return false;
  it->second = fp;
  return true;
}

void ingress_mode::observe_service(const nlohmann::json& o, bool removed) {
  const auto& ns = status_.publish_namespace();
  const auto& name = status_.publish_name();
  if (name.empty() || key_of(o) != ns + "/" + name) return;
  status_.observe_publish_service(removed ? std::vector<kube::lb_address>{} : kube::service_status_addresses(o));
}

bool ingress_mode::drain_inbox() {
  std::vector<delivery> batch;
  {
    std::lock_guard lock(inbox_mutex_);
    batch.swap(inbox_);
  }
  bool changed = false;
  for (auto& d : batch) {
    if (d.stream == publish_stream) {
      // Only the controller's own Service, whatever else a server without
      // field selectors sends: its addresses are written, not served.
      bool seen = false;
      for (const auto& o : d.objects)
        if (key_of(o) == status_.publish_namespace() + "/" + status_.publish_name()) {
          observe_service(o, d.what == delivery::remove);
          seen = true;
        }
      if (d.what == delivery::list && !seen) status_.observe_publish_service({});
      continue;
    }
    if (d.what == delivery::list) {
      objects_.clear(d.kind);
      if (d.kind == "Ingress") ingress_fingerprints_.clear();
      // A re-list may follow a server that lost its history (an etcd
      // restore): resource versions seen before may name other contents now.
      if (d.kind == "Service" || d.kind == "EndpointSlice") endpoints_ = {};
      changed = true;
    }
    for (auto& o : d.objects) {
      if (!o.is_object()) continue;
      o["kind"] = d.kind;  // list items come without their kind
      const bool removed = d.what == delivery::remove;
      if (d.kind == "Service") observe_service(o, removed);
      if (d.kind == "Ingress") {
        const auto key = key_of(o);
        if (removed) {
          ingress_fingerprints_.erase(key);
          status_.forget_ingress(key);
        } else {
          status_.observe_ingress(key, kube::status_addresses(o));
          if (!ingress_changed(o, key) && d.what == delivery::upsert) continue;
        }
      }
      if (removed) objects_.remove(o);
      else objects_.add(o);
      changed = true;
    }
  }
  return changed;
}

void ingress_mode::wait_synced(std::chrono::milliseconds limit) {
  if (!watcher_) return;
  {
    std::unique_lock lock(inbox_mutex_);
    if (!inbox_cv_.wait_for(lock, limit, [this] { return synced_; }))
      log::warn("kubernetes objects not all listed yet: serving what is known, reloading as they come",
                {{"waited_ms", std::to_string(limit.count())}});
    else
      taken_in_sync_ = true;
  }
  drain_inbox();
}

bool ingress_mode::ready() const { return !watcher_ || taken_in_sync_; }

bool ingress_mode::start_watch(const config::kubernetes& k, std::string& why) {
  const auto id = watch_identity(k);
  if (watcher_ && id == watch_settings_) return true;
  kube::credentials creds;
  const bool ok = k.kubeconfig.empty() ? kube::from_in_cluster(creds, why) : kube::from_kubeconfig(creds, why, k.kubeconfig);
  if (!ok) return false;
  auto resources = kube::ingress_resources();
  if (!k.status.publish_name.empty()) {
    const auto ns = k.status.publish_namespace.empty() ? own_namespace(creds) : k.status.publish_namespace;
    if (!k.namespace_.empty() && ns != k.namespace_) {
      auto r = kube::known_resource("services");
      r->name = publish_stream;
      r->field_selector = "metadata.name=" + k.status.publish_name;
      r->namespace_override = ns;
      resources.push_back(std::move(*r));
    }
  }
  kube::watch_options wo;
  wo.namespace_ = k.namespace_;
  if (watcher_) watcher_->stop();
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.clear();
    synced_ = false;
  }
  taken_in_sync_ = false;
  objects_ = {};
  ingress_fingerprints_.clear();
  kube::watch_sink& sink = *this;  // the base is private: convert here, not in make_unique
  creds_ = creds;
  watcher_ = std::make_unique<kube::watcher>(std::move(creds), std::move(resources), wo, sink);
  if (!watcher_->start(why)) {
    watcher_.reset();
    return false;
  }
  watch_settings_ = id;
  log::info("watching kubernetes", {{"server", k.kubeconfig.empty() ? "in-cluster" : k.kubeconfig},
                                    {"namespace", k.namespace_.empty() ? "(all)" : k.namespace_}});
  return true;
}

bool ingress_mode::write_files(const std::vector<ingress::pem_file>& files, std::string& why) {
  for (const auto& f : files) {
    const auto it = written_.find(f.path);
    if (it != written_.end() && it->second == f.content) continue;
    std::error_code ec;
    fs::create_directories(fs::path(f.path).parent_path(), ec);
    // Written aside and renamed: a reader never sees half a key, and the
    // certificate watch sees one change.
    const auto tmp = f.path + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (f.secret) ::chmod(tmp.c_str(), 0600);
      out << f.content;
      if (!out.flush()) {
        why = "cannot write " + tmp + ": " + std::strerror(errno);
        return false;
      }
    }
    fs::rename(tmp, f.path, ec);
    if (ec) {
      why = "cannot write " + f.path + ": " + ec.message();
      return false;
    }
    written_[f.path] = f.content;
  }
  return true;
}

config::load_result ingress_mode::merge(config::load_result parsed) {
  if (!parsed.ok()) return parsed;
  if (!parsed.cfg->kubernetes) {
    if (watcher_) {
      watcher_->stop();
      watcher_.reset();
      status_.stop();
      objects_ = {};
      endpoints_ = {};
      ingress_fingerprints_.clear();
      log::info("kubernetes watch stopped: no 'kubernetes' in the config");
    }
    return parsed;
  }
  const auto& k = *parsed.cfg->kubernetes;
  std::string why;
  if (!start_watch(k, why) || !status_.configure(k, creds_, why)) {
    parsed.errors.push_back(config::diagnostic::at(k.pos, "kubernetes: " + why));
    parsed.cfg = nullptr;
    return parsed;
  }
  drain_inbox();
  auto t = ingress::translate(objects_, options_of(k), &endpoints_);
  if (!write_files(t.files, why)) {
    parsed.errors.push_back(config::diagnostic::at(k.pos, "kubernetes: " + why));
    parsed.cfg = nullptr;
    return parsed;
  }
  for (const auto& r : t.report) {
    if (r.level == ingress::fidelity::supported || !r.served) continue;
    for (const auto& n : r.notes)
      if (n.level != ingress::fidelity::supported)
        log::debug("ingress note", {{"object", r.kind + " " + r.key},
                                    {"level", std::string(ingress::fidelity_name(n.level))},
                                    {"subject", n.subject},
                                    {"note", n.text}});
  }
  last_report_ = std::move(t.report);
  auto cfg = std::make_shared<config::config>(*parsed.cfg);
  for (auto& l : t.cfg.listeners) cfg->listeners.push_back(std::move(l));
  for (auto& p : t.cfg.pools) cfg->pools.push_back(std::move(p));
  // Names and addresses checked again across the file's and the cluster's
  // parts (a file pool named like a Service's, a listener on the same port).
  parsed.errors = config::cross_check(*cfg);
  parsed.cfg = parsed.errors.empty() ? std::move(cfg) : nullptr;
  if (parsed.cfg) status_.publish(objects_, last_report_);
  return parsed;
}

}  // namespace lb::control
