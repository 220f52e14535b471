#pragma once
// Ingress controller mode (`kubernetes:` in the config): the cluster's
// Ingresses, IngressClasses, Services, EndpointSlices and TLS Secrets,
// watched on a thread of their own (lb/kube), kept here on the control
// thread, and translated into listeners and pools merged into every load of
// the config file. A change in the cluster reloads through the same path as
// a file change, so a bad state keeps the running config.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "lb/config/source.h"
#include "lb/control/ingress_status.h"
#include "lb/ingress/objects.h"
#include "lb/ingress/translate.h"
#include "lb/kube/watcher.h"

namespace lb::control {

class ingress_mode final : private kube::watch_sink {
 public:
  // Thread: control. `changed` runs on the control thread when the cluster
  // changed: at once after a quiet spell, else at most once per `settle`
  // (a rollout's burst is a few reloads, not one per pod).
  ingress_mode(boost::asio::io_context& control, std::function<void()> changed,
               std::chrono::milliseconds settle = std::chrono::milliseconds(50));
  ~ingress_mode() override;
  ingress_mode(const ingress_mode&) = delete;
  ingress_mode& operator=(const ingress_mode&) = delete;

  // Thread: control. With every load of the file. When it has `kubernetes:`:
  // starts the watch (again, when its settings changed), translates the
  // cluster as it is now, writes the Secrets' PEM files that changed, and
  // appends the translation's listeners and pools. Without it: stops any
  // watch. Problems (credentials, files) are errors of the returned load.
  config::load_result merge(config::load_result parsed);

  // Thread: control. Blocks up to `limit` for the first list of every
  // resource, then takes it in (start-up, before the first merge).
  void wait_synced(std::chrono::milliseconds limit);

  // Thread: control. False while the watch has not listed everything once
  // (/readyz then says not ready); true when not in ingress mode.
  bool ready() const;

  // Thread: control. The last translation's report (the admin endpoint).
  const std::vector<ingress::object_report>& report() const { return last_report_; }

 private:
  // One watch delivery, queued by the watcher thread for the control thread.
  struct delivery {
    std::string stream;  // the resource's name: "ingresses", ..., "publish-service"
    std::string kind;
    enum { list, upsert, remove } what = upsert;
    std::vector<nlohmann::json> objects;
  };

  // kube::watch_sink: the watcher's thread. Queue and wake the control thread.
  void on_list(const kube::resource& r, std::vector<nlohmann::json> items, const std::string& rv) override;
  void on_event(const kube::resource& r, kube::event_type type, nlohmann::json object) override;
  void on_synced() override;
  void push(delivery d);

  // Thread: control. Applies what was queued; true when anything the
  // translation reads changed (not an Ingress's status alone, nor the
  // published Service's addresses: those are written, not served).
  bool drain_inbox();
  // Thread: control. One Ingress added or updated: false when only its
  // status or resourceVersion changed (lb's own status write coming back).
  bool ingress_changed(const nlohmann::json& o, const std::string& key);
  void observe_service(const nlohmann::json& o, bool removed);
  bool start_watch(const config::kubernetes& k, std::string& why);
  bool write_files(const std::vector<ingress::pem_file>& files, std::string& why);

  boost::asio::io_context& control_;
  std::function<void()> changed_;
  std::chrono::milliseconds settle_;
  boost::asio::steady_timer settle_timer_;
  bool settle_pending_ = false;
  std::chrono::steady_clock::time_point last_change_{};

  ingress::cluster objects_;  // control thread only
  ingress::endpoint_memo endpoints_;  // the translations' Service endpoints, by resource version
  std::string watch_settings_;  // what the running watch was started with
  std::unique_ptr<kube::watcher> watcher_;
  kube::credentials creds_;  // the running watch's
  ingress_status status_;    // control thread only
  std::map<std::string, std::size_t> ingress_fingerprints_;  // key -> hash of all but status
  std::map<std::string, std::string> written_;  // PEM files written: path -> content
  std::vector<ingress::object_report> last_report_;

  // Between the watcher thread and the control thread (never a worker).
  std::mutex inbox_mutex_;
  std::condition_variable inbox_cv_;
  std::vector<delivery> inbox_;
  bool synced_ = false;  // under inbox_mutex_
  std::atomic<bool> taken_in_sync_{false};  // the first full list reached objects_
};

}  // namespace lb::control
