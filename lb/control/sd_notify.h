#pragma once
// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram
// to the AF_UNIX socket named by $NOTIFY_SOCKET. Under `Type=notify` systemd
// waits for READY=1 before it counts the unit as started, so `systemctl start`
// returns only once every listener is bound.

#include <string_view>

namespace lb::control {

// Thread: control. Sends `state` (e.g. "READY=1\nSTATUS=serving") when
// NOTIFY_SOCKET is set; a no-op otherwise. Returns false when the socket was
// named but the message could not be sent (logged by the caller if it cares).
bool sd_notify(std::string_view state);

}  // namespace lb::control
