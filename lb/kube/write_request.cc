#include "lb/kube/write_request.h"

#include <algorithm>

#include <boost/asio/ip/address.hpp>

namespace lb::kube {

using nlohmann::json;

lb_address make_address(std::string value) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(value, ec);
  return {std::move(value), static_cast<bool>(ec)};
}

std::vector<lb_address> normalized(std::vector<lb_address> a) {
  std::sort(a.begin(), a.end(), [](const lb_address& x, const lb_address& y) {
    return x.hostname != y.hostname ? !x.hostname : x.value < y.value;
  });
  a.erase(std::unique(a.begin(), a.end()), a.end());
  return a;
}

std::vector<lb_address> status_addresses(const json& ingress) {
  std::vector<lb_address> out;
  if (!ingress.is_object()) return out;
  const auto status = ingress.find("status");
  if (status == ingress.end() || !status->is_object()) return out;
  const auto lb = status->find("loadBalancer");
  if (lb == status->end() || !lb->is_object()) return out;
  const auto list = lb->find("ingress");
  if (list == lb->end() || !list->is_array()) return out;
  for (const auto& e : *list) {
    if (!e.is_object()) continue;
    if (const auto ip = e.find("ip"); ip != e.end() && ip->is_string() && !ip->get_ref<const std::string&>().empty())
      out.push_back({*ip, false});
    else if (const auto h = e.find("hostname"); h != e.end() && h->is_string() && !h->get_ref<const std::string&>().empty())
      out.push_back({*h, true});
  }
  return normalized(std::move(out));
}

std::vector<lb_address> service_status_addresses(const json& service) {
  std::vector<lb_address> out;
  if (!service.is_object()) return out;
  const auto spec = service.find("spec");
  if (spec == service.end() || !spec->is_object()) return out;
  const auto text = [&](const char* key) {
    const auto it = spec->find(key);
    return it != spec->end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  std::vector<lb_address> external;
  if (const auto ips = spec->find("externalIPs"); ips != spec->end() && ips->is_array())
    for (const auto& ip : *ips)
      if (ip.is_string() && !ip.get_ref<const std::string&>().empty()) external.push_back(make_address(ip));
  const auto type = text("type");
  const auto cluster_ip = text("clusterIP");
  const bool has_cluster_ip = !cluster_ip.empty() && cluster_ip != "None";
  if (type == "ExternalName") {
    if (auto name = text("externalName"); !name.empty()) out.push_back({std::move(name), true});
  } else if (type == "LoadBalancer") {
    out = status_addresses(service);
    out.insert(out.end(), external.begin(), external.end());
  } else if (type == "NodePort" && !external.empty()) {
    out = std::move(external);
  } else if (has_cluster_ip) {  // ClusterIP (the default type), or NodePort without external IPs
    out.push_back(make_address(cluster_ip));
  }
  return normalized(std::move(out));
}

json status_patch(const std::vector<lb_address>& addresses) {
  json list = json::array();
  for (const auto& a : normalized(addresses)) list.push_back({{a.hostname ? "hostname" : "ip", a.value}});
  return {{"status", {{"loadBalancer", {{"ingress", std::move(list)}}}}}};
}

std::string ingress_status_path(const std::string& ns, const std::string& name) {
  return "/apis/networking.k8s.io/v1/namespaces/" + ns + "/ingresses/" + name + "/status";
}

json event_object(const object_ref& obj, event_severity type, const std::string& reason, const std::string& message,
                  const std::string& component, wall_time now) {
  json involved = {{"kind", obj.kind}, {"namespace", obj.namespace_}, {"name", obj.name}};
  if (!obj.uid.empty()) involved["uid"] = obj.uid;
  if (!obj.api_version.empty()) involved["apiVersion"] = obj.api_version;
  if (!obj.resource_version.empty()) involved["resourceVersion"] = obj.resource_version;
  // Events carry second precision (metav1.Time); eventTime (MicroTime) is for
  // events.k8s.io/v1 and stays unset here.
  const auto stamp = format_micro_time(std::chrono::time_point_cast<std::chrono::seconds>(now));
  const auto seconds_stamp = stamp.substr(0, 19) + "Z";
  return {{"apiVersion", "v1"},
          {"kind", "Event"},
          {"metadata", {{"generateName", obj.name + "."}, {"namespace", obj.namespace_}}},
          {"involvedObject", std::move(involved)},
          {"reason", reason},
          {"message", message},
          {"type", type == event_severity::warning ? "Warning" : "Normal"},
          {"source", {{"component", component}}},
          {"firstTimestamp", seconds_stamp},
          {"lastTimestamp", seconds_stamp},
          {"count", 1}};
}

std::string event_dedup::key(const std::string& uid, const std::string& reason, const std::string& message) {
  std::string k;
  k.reserve(uid.size() + reason.size() + message.size() + 2);
  k.append(uid).push_back('\0');
  k.append(reason).push_back('\0');
  k.append(message);
  return k;
}

void event_dedup::expire(clock::time_point now) {
  while (!order_.empty() && (order_.front().first + window_ <= now || seen_.size() > max_)) {
    const auto it = seen_.find(order_.front().second);
    if (it != seen_.end() && it->second == order_.front().first) seen_.erase(it);
    order_.pop_front();
  }
  // Stale entries (forgotten ones) can pile up behind a live head; bound them.
  if (order_.size() > 2 * max_ + 16) {
    std::erase_if(order_, [&](const auto& e) {
      const auto it = seen_.find(e.second);
      return it == seen_.end() || it->second != e.first;
    });
  }
}

bool event_dedup::admit(const std::string& uid, const std::string& reason, const std::string& message,
                        clock::time_point now) {
  expire(now);
  auto k = key(uid, reason, message);
  const auto it = seen_.find(k);
  if (it != seen_.end() && it->second + window_ > now) return false;
  seen_[k] = now;
  order_.emplace_back(now, std::move(k));
  expire(now);
  return true;
}

void event_dedup::forget(const std::string& uid, const std::string& reason, const std::string& message) {
  seen_.erase(key(uid, reason, message));
}

}  // namespace lb::kube
