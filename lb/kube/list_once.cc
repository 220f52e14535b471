#include "lb/kube/list_once.h"

#include <condition_variable>
#include <map>
#include <mutex>

#include "lb/kube/watcher.h"

namespace lb::kube {
namespace {

// Keeps the last full list of each resource until every one has listed.
class collector final : public watch_sink {
 public:
  void on_list(const resource& r, std::vector<nlohmann::json> items, const std::string&) override {
    for (auto& i : items)
      if (i.is_object()) i["kind"] = r.kind;  // list items come without it
    std::lock_guard lock(mu_);
    lists_[r.name] = std::move(items);
  }
  void on_event(const resource&, event_type, nlohmann::json) override {}  // the lists are the look
  void on_synced() override {
    {
      std::lock_guard lock(mu_);
      synced_ = true;
    }
    cv_.notify_all();
  }

  bool wait(std::chrono::milliseconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [this] { return synced_; });
  }
  void take(std::vector<nlohmann::json>& out) {
    std::lock_guard lock(mu_);
    for (auto& [name, items] : lists_)
      for (auto& i : items) out.push_back(std::move(i));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::vector<nlohmann::json>> lists_;
  bool synced_ = false;
};

}  // namespace

bool list_once(const credentials& creds, const std::vector<resource>& resources, const std::string& namespace_,
               std::chrono::milliseconds limit, std::vector<nlohmann::json>& out, std::string& why) {
  collector sink;
  watch_options o;
  o.namespace_ = namespace_;
  watcher w(creds, resources, o, sink);
  if (!w.start(why)) return false;
  const bool listed = sink.wait(limit);
  w.stop();  // joins: no callback after this
  if (!listed) {
    why = "not every resource was listed within " + std::to_string(limit.count() / 1000) + " s";
    return false;
  }
  sink.take(out);
  return true;
}

}  // namespace lb::kube
