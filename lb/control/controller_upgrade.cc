// The controller's side of a binary upgrade: which sockets go to the new
// process, when one may start, and what this process does once it serves.
#include <unistd.h>

#include "lb/control/controller.h"
#include "lb/control/sd_notify.h"
#include "lb/core/log.h"

namespace lb::control {

owned_fds controller::hold(const std::vector<listener::listen_socket>& sockets) {
  owned_fds out;
  for (const auto& s : sockets)
    if (!out.dup_of(s.native_handle())) log::warn("cannot keep a listening socket for upgrades");
  return out;
}

pid_t controller::start_upgrade(std::string_view trigger, std::string& refused) {
  if (draining_) refused = "draining";
  else if (upgrade_.in_progress()) refused = "an upgrade is already in progress";
  else if (::getpid() == 1)
    refused = "lb is PID 1 (a container's init): its exit would end the container; run it under an init "
              "(docker run --init, tini) to upgrade in place";
  pid_t pid = 0;
  if (refused.empty()) {
    std::vector<socket_group> groups;
    for (const auto& [name, fds] : held_)
      groups.push_back({handover_message::kind::listener, bound_[name], fds.fds()});
    if (admin_ && admin_->native_handle() >= 0 && current_->cfg->admin.listen)
      groups.push_back({handover_message::kind::admin, current_->cfg->admin.listen->str(), {admin_->native_handle()}});
    pid = upgrade_.start(how_, groups, upgrade_timeout, refused);
  }
  if (pid == 0) {
    ++facts_.upgrades_refused;
    log::warn("upgrade refused: keeping this process", {{"trigger", trigger}, {"reason", refused}});
    return 0;
  }
  log::info("upgrade started", {{"trigger", trigger}, {"binary", how_.exe}, {"pid", std::to_string(pid)}});
  return pid;
}

void controller::upgrade_done(const upgrade::outcome& o) {
  if (!o.ok) {
    ++facts_.upgrades_failed;
    log::error("upgrade failed: keeping this process", {{"pid", std::to_string(o.pid)}, {"reason", o.reason}});
    return;
  }
  log::info("upgrade: the new process serves; draining this one", {{"pid", std::to_string(o.pid)}});
  if (!sd_notify("MAINPID=" + std::to_string(o.pid) + "\nSTATUS=upgraded"))
    log::warn("sd_notify failed: NOTIFY_SOCKET unreachable");
  drain("upgrade", true);
}
}  // namespace lb::control
