#pragma once
// What the ingress controller writes back to the cluster (issue 13, point 4):
// status.loadBalancer of the Ingresses it serves, from fixed addresses or
// from its own Service, and Events about what it refused or ignored. The
// writes go through lb::kube::writer (its own thread, queued, never waited
// for). With leader election, only the replica holding the Lease writes;
// every replica serves.

#include <boost/asio/io_context.hpp>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "lb/config/config.h"
#include "lb/ingress/objects.h"
#include "lb/ingress/translate.h"
#include "lb/kube/credentials.h"
#include "lb/kube/write_request.h"

namespace lb::kube {
class writer;
}

namespace lb::control {

class ingress_status {
 public:
  explicit ingress_status(boost::asio::io_context& control);
  ~ingress_status();
  ingress_status(const ingress_status&) = delete;
  ingress_status& operator=(const ingress_status&) = delete;

  // Thread: control. With every load in ingress mode: (re)starts the writer
  // when what it depends on changed, stops it when nothing is to be written.
  // False with `why` when the writer cannot start (then nothing is written).
  bool configure(const config::kubernetes& k, const kube::credentials& creds, std::string& why);
  // Thread: control. Stops writing (no `kubernetes:` any more); idempotent.
  void stop();

  // Thread: control. The namespace and name of the Service whose addresses
  // are published (empty name: fixed addresses or none), once configured.
  const std::string& publish_namespace() const { return publish_ns_; }
  const std::string& publish_name() const { return publish_name_; }

  // Thread: control. What the watch shows: an Ingress's current status (so
  // an unchanged status is not written again), an Ingress gone, the
  // published Service's addresses (written at once when they change).
  void observe_ingress(const std::string& key, std::vector<kube::lb_address> status);
  void forget_ingress(const std::string& key);
  void observe_publish_service(std::vector<kube::lb_address> addresses);

  // Thread: control. After a translation: the status of every Ingress
  // served, and an Event for each Ingress rejected or with a part ignored.
  void publish(const ingress::cluster& objects, const std::vector<ingress::object_report>& report);

 private:
  bool writing() const;
  void write_statuses();

  boost::asio::io_context& control_;
  std::unique_ptr<kube::writer> writer_;
  std::string settings_;  // what the running writer was started with
  bool election_ = false;
  bool events_ = true;
  bool fixed_ = false;  // addresses from the config, not from a Service
  bool known_ = false;  // the published Service has been seen
  std::string publish_ns_, publish_name_;
  std::vector<kube::lb_address> addresses_;  // what is published
  std::map<std::string, std::vector<kube::lb_address>> observed_;  // Ingress key -> its status now
  std::set<std::string> served_;  // Ingresses served by the last translation
  // Posted callbacks check it: the writer's thread may post after stop().
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

// Thread: any. The namespace lb runs in: $POD_NAMESPACE, else the
// credentials' (the service account's, or the kubeconfig context's), else
// "default".
std::string own_namespace(const kube::credentials& creds);

}  // namespace lb::control
