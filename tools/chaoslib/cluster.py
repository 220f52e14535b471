"""The processes a chaos run drives: lb (2 workers) and lb-backend upstreams on loopback,
the configs lb is given (valid variants and broken ones), and the timeline of when each
backend was up, so the verdict can tell which requests had a healthy endpoint left.

Every process is started from the main thread through the integration harness (its
children die with the thread that spawned them) and stopped by its own PID."""

import os
import signal
import time

from lib import harness

# Health checks: a stopped or killed backend is marked down within
# interval * unhealthy_threshold + timeout (1.25 s); a restarted one is marked up
# within interval * healthy_threshold + timeout (1.25 s), give or take a probe.
HEALTH = {"type": "http", "path": "/healthz", "interval": "500ms", "timeout": "250ms",
          "healthy_threshold": 2, "unhealthy_threshold": 2}
HEALTH_INTERVAL = 0.5
HEALTHY_THRESHOLD = 2
HEALTH_TIMEOUT = 0.25
# How long a backend must have been up before a request may count on lb knowing it is
# healthy: the probes that mark it up, one more interval for probe scheduling, and 1 s
# of slack for a machine busy with other tests.
UP_WINDOW = HEALTH_INTERVAL * (HEALTHY_THRESHOLD + 1) + HEALTH_TIMEOUT + 1.0

ROUTE_TIMEOUT_S = 10          # longer than any SIGSTOP, so a stopped backend only delays
TIGHT_MAX_CONNECTIONS = 24    # the `tight` listener's limits.max_connections
TIGHT_CLIENT_CONNECTIONS = 4  # its client_limits.connections (per worker)
TIGHT_BURST = 10              # its client_limits.burst (per worker)
KEEPALIVE_IDLE_S = 5          # pooled upstream connections close after this when idle
WORKERS = 2


class Slot:
    """One backend name and port across its restarts; `events` is [(t, up)] on the run's
    monotonic clock (kill and SIGSTOP are down, a restart's `listening` and SIGCONT up)."""

    def __init__(self, name):
        self.name = name
        self.proc = None
        self.port = 0
        self.state = "up"       # up | killed | stopped
        self.events = [(float("-inf"), True)]

    def up_throughout(self, start, end):
        """True if this backend was up over the whole of [start, end]."""
        up = True
        for t, is_up in self.events:
            if t <= start:
                up = is_up
            elif t <= end:
                if not is_up:
                    return False
            else:
                break
        return up


class Cluster:
    def __init__(self, workdir, nbackends, clock, retries=True):
        self.workdir = workdir
        self.retries = retries  # False only to prove the run can fail (--sabotage)
        self.clock = clock
        self.slots = [Slot(f"b{i + 1}") for i in range(nbackends)]
        self.ports = dict(zip(("web", "tight", "admin"), harness.closed_ports(3)))
        self.generation = 0
        self.variant = 0
        self.access_log = os.path.join(workdir, "access.log")
        self.lb = None

    # ------------------------------------------------------------------ backends

    def start_backends(self):
        for s in self.slots:
            s.proc = harness.Backend(s.name)
            s.port = s.proc.port

    def restart(self, slot):
        """Starts a killed backend again on its port (the kernel may have handed the port
        to someone else meanwhile: then on a new one, and the caller reloads lb).
        Returns True if the port changed."""
        for _ in range(5):
            try:
                slot.proc = harness.Backend(slot.name, listen=f"127.0.0.1:{slot.port}")
                break
            except RuntimeError:
                time.sleep(0.3)
        else:
            slot.proc = harness.Backend(slot.name)
        moved = slot.proc.port != slot.port
        slot.port = slot.proc.port
        slot.state = "up"
        slot.events.append((self.clock(), True))
        return moved

    def kill(self, slot):
        slot.events.append((self.clock(), False))
        slot.state = "killed"
        os.kill(slot.proc.pid, signal.SIGKILL)
        slot.proc.proc.wait()
        slot.proc.stop()  # reaps, closes its pipes

    def stop(self, slot):
        slot.events.append((self.clock(), False))
        slot.state = "stopped"
        os.kill(slot.proc.pid, signal.SIGSTOP)

    def cont(self, slot):
        os.kill(slot.proc.pid, signal.SIGCONT)
        slot.state = "up"
        slot.events.append((self.clock(), True))

    def healthy_slots(self, start, end):
        """Backends lb can be counted on to hold healthy for a request over [start, end]:
        up over the whole of [start - UP_WINDOW, end]."""
        return [s.name for s in self.slots if s.up_throughout(start - UP_WINDOW, end)]

    def stop_all(self):
        for s in self.slots:
            if s.state == "stopped":
                self.cont(s)
        if self.lb is not None:
            self.lb.stop()
        for s in self.slots:
            if s.state == "up":
                s.proc.stop()

    # ------------------------------------------------------------------ lb and its config

    def config_doc(self):
        """The running config: a fresh generation number (so every valid reload changes
        the file and lb's file watch sees it) and a balancer that alternates."""
        retries = {"attempts": 2, "on": ["connect-failure", "refused-stream", 502, 503], "budget_percent": 100}
        route = {"name": "app", "pool": "app", "timeout": f"{ROUTE_TIMEOUT_S}s",
                 "retries": retries if self.retries else {"attempts": 0},
                 "set_headers": {"x-chaos-generation": str(self.generation)}}
        return {
            "workers": WORKERS,
            "drain_timeout": "3s",
            "admin": {"listen": f"127.0.0.1:{self.ports['admin']}"},
            "access_log": {"path": self.access_log},
            "listeners": [
                {"name": "web", "listen": f"127.0.0.1:{self.ports['web']}", "protocol": "http",
                 "protocols": ["h1", "h2"], "limits": {"idle_timeout": "30s"}, "routes": [route]},
                {"name": "tight", "listen": f"127.0.0.1:{self.ports['tight']}", "protocol": "http",
                 "limits": {"max_connections": TIGHT_MAX_CONNECTIONS, "header_timeout": "5s",
                            "idle_timeout": "30s"},
                 "client_limits": {"connections": TIGHT_CLIENT_CONNECTIONS, "requests_per_second": 40,
                                   "burst": TIGHT_BURST},
                 "routes": [dict(route, name="tight")]},
            ],
            "pools": [{
                "name": "app",
                "balancer": ("round_robin", "least_request")[self.variant % 2],
                "endpoints": [f"127.0.0.1:{s.port}" for s in self.slots],
                "connect_timeout": "1s",
                "keepalive": {"max_idle": 16, "idle_timeout": f"{KEEPALIVE_IDLE_S}s"},
                "health_check": HEALTH,
            }],
        }

    def config_text(self):
        return "\n".join(harness.to_yaml(self.config_doc())) + "\n"

    def next_valid(self):
        self.generation += 1
        self.variant += 1
        return self.config_text()

    def invalid_text(self, kind):
        """A config lb must refuse, keeping the running one."""
        good = self.config_text()
        if kind == "yaml-syntax":
            return good + "listeners: [unclosed\n"
        if kind == "unknown-key":
            return good.replace("    protocol: http\n", "    protocol: http\n    lsiten: 127.0.0.1:1\n", 1)
        if kind == "unknown-pool":
            return good.replace("    pool: app\n", "    pool: nosuchpool\n", 1)
        if kind == "bad-duration":
            return good.replace("interval: 500ms", "interval: 1.5s")
        if kind == "empty":
            return ""
        raise ValueError(kind)

    INVALID_KINDS = ("yaml-syntax", "unknown-key", "unknown-pool", "bad-duration", "empty")

    def start_lb(self):
        # The ports were free when chosen, but another suite of a parallel
        # ctest run (or a backend's bind to port 0) may take one before lb
        # binds it: choose again rather than fail the run.
        for attempt in range(3):
            try:
                self.lb = harness.Lb(self.config_text(), listeners=["web", "tight"])
                return self.lb
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
                self.ports = dict(zip(("web", "tight", "admin"), harness.closed_ports(3)))

    def write_config(self, text):
        with open(self.lb.config_path, "w") as f:
            f.write(text)
        self.lb.yaml = text

    def metrics(self):
        return harness.metrics(self.lb)

    def wait_all_healthy(self, timeout=15.0):
        def ok():
            m = self.metrics()
            return all(harness.metric_value(m, "lb_upstream_endpoint_healthy", pool="app",
                                            endpoint=f"127.0.0.1:{s.port}") == 1 for s in self.slots)
        return harness.wait_until(ok, timeout, 0.2)

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.lb.pid}/fd"))

    def rss_kib(self):
        return harness.rss_kib(self.lb.pid)
