"""Integration-test harness: real `lb` and `lb-backend` processes on loopback.

Everything binds port 0 and reads the real port back from the process's own
output; readiness is awaited against a deadline; every child is reaped by PID
(SIGTERM, then SIGKILL), also when a test fails. Nothing is ever killed by name.

Environment: LB_BIN (path to lb), LB_BACKEND_BIN (path to lb-backend).

The parts live in procs (processes), conf (configs), http_client (the raw
client, WebSocket frames), observe (admin API, metrics, logs) and scripted
(misbehaving backends, load); every name stays reachable as harness.NAME.
"""

import sys
import unittest

# Re-exported: tests use every part through this module.
from lib.http_client import (  # noqa: F401
    BoundClient,
    Client,
    ConnectionClosed,
    Response,
    WS_GUID,
    _xor_mask,
    build_request,
    chunked_body,
    curl,
    get,
    simple_get,
    ws_accept,
    ws_frame,
    ws_read_frame,
    ws_read_message,
)
from lib.procs import (  # noqa: F401
    Backend,
    HostsLb,
    Lb,
    READY_TIMEOUT,
    RssSampler,
    STOP_TIMEOUT,
    _LIBC,
    _LIVE,
    _LOGFMT,
    _LineReader,
    _PR_SET_PDEATHSIG,
    _close_pipes,
    _die_with_parent,
    _held_refusing,
    _reap_all,
    _spawn,
    _stop_process,
    backend_bin,
    closed_port,
    closed_ports,
    lb_bin,
    listening_sockets,
    parse_logfmt,
    refusing_port,
    refusing_ports,
    rss_kib,
    run_lb,
    split_hostport,
)
from lib.conf import (  # noqa: F401
    _PLAIN,
    _scalar,
    config,
    endpoints,
    pool,
    route,
    to_yaml,
)
from lib.observe import (  # noqa: F401
    _METRIC_LABEL,
    _METRIC_LINE,
    access_records,
    admin_pools,
    admin_request,
    log_events,
    metric_value,
    metrics,
    pool_endpoints,
    refused,
    reload_lb,
    rewrite_in_place,
    wait_access_records,
    wait_log_events,
    wait_until,
)
from lib.scripted import (  # noqa: F401
    Load,
    ScriptedBackend,
)


class LbTestCase(unittest.TestCase):
    """Starts processes through helpers that always reap them, and prints lb's log when
    a test fails. If lb died on its own during a test, the test errors."""

    def run(self, result=None):
        self._lbs = []
        before = len(result.failures) + len(result.errors) if result else 0
        out = super().run(result)
        if result and len(result.failures) + len(result.errors) > before:
            for lb in self._lbs + getattr(type(self), "_class_lbs", []):
                tail = lb.log_lines()[-40:]
                sys.stderr.write(f"\n---- lb pid {lb.pid} log (last {len(tail)} lines) ----\n")
                sys.stderr.write("\n".join(tail) + "\n")
        return out

    def backend(self, name, *extra_args, **kw):
        b = Backend(name, *extra_args, **kw)
        self.addCleanup(b.stop)
        return b

    def lb(self, yaml_text, **kw):
        lb = Lb(yaml_text, **kw)
        self._lbs.append(lb)
        self.addCleanup(self._stop_lb, lb)
        return lb

    def _stop_lb(self, lb):
        died = lb.proc.poll()
        lb.stop()
        if died is not None and not lb.expected_exit:
            raise AssertionError(f"lb exited on its own during the test with code {died}; log:\n"
                                 + "\n".join(lb.log_lines()[-40:]))

    @classmethod
    def class_backend(cls, name, *extra_args, **kw):
        b = Backend(name, *extra_args, **kw)
        cls.addClassCleanup(b.stop)
        return b

    @classmethod
    def class_lb(cls, yaml_text, **kw):
        lb = Lb(yaml_text, **kw)
        if "_class_lbs" not in cls.__dict__:
            cls._class_lbs = []
        cls._class_lbs.append(lb)
        cls.addClassCleanup(lb.stop)
        return lb

    def assert_alive(self, lb):
        self.assertIsNone(lb.proc.poll(), "lb died; log:\n" + "\n".join(lb.log_lines()[-40:]))

    def client(self, port, **kw):
        c = Client(port, **kw)
        self.addCleanup(c.close)
        return c
