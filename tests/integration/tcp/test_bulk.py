"""Bulk flows each way on the splice path and on the buffered path
(`splice: off`): the bytes arrive intact (SHA-256 both ways) and lb's RSS stays
flat. The size is LB_TCP_BULK_BYTES (default 1 GiB each way; the echo server
and the client are Python, which sets the pace)."""

import os
import socket
import time
import unittest

from lib import harness
from tcp import support

SIZE = int(os.environ.get("LB_TCP_BULK_BYTES", str(1 << 30)))
RSS_BUDGET_KIB = 32 * 1024  # peak RSS minus RSS before the transfer
# Seconds per transfer (about 4 s here): room for one kernel backoff (see
# support.STALL_SECONDS) on a loaded machine; a stall fails instead of hanging.
TIME_LIMIT = 300


class BulkTest(harness.LbTestCase):
    def run_path(self, splice):
        e = support.Echo()
        self.addCleanup(e.stop)
        lb = self.lb(support.tcp_config([e.endpoint()], listener_extra={"splice": splice}, access_log=False))
        # Warm-up: one-off allocations (buffers, a pipe) belong in the baseline.
        sent, got, trailer = support.transfer(lb.port, 8 << 20, seed=b"warm")
        self.assertEqual(sent, got)
        time.sleep(0.2)
        before = lb.rss_kib()
        sampler = harness.RssSampler(lb.pid)
        sampler.start()
        t0 = time.monotonic()
        report = lambda: support.socket_report([lb.port, e.port], [lb.pid, e.proc.pid])
        sent, got, trailer = support.transfer(lb.port, SIZE, seed=splice.encode(), stall_report=report)
        took = time.monotonic() - t0
        peak = sampler.stop()
        self.assertEqual(sent, got, "bytes changed on the way")
        self.assertEqual(trailer, f"EOF {SIZE}\n".encode(), "the echo server did not see every byte")
        self.assertLess(took, TIME_LIMIT)
        self.assertLess(peak - before, RSS_BUDGET_KIB, f"RSS grew {peak - before} KiB")
        samples = harness.metrics(lb)
        self.assertEqual(harness.metric_value(samples, "lb_tcp_bytes_total", listener="t", direction="rx"),
                         SIZE + (8 << 20))
        sys_note = f"{SIZE >> 20} MiB each way, splice {splice}: {took:.1f}s, RSS +{peak - before} KiB"
        print(sys_note)

    def test_splice_path(self):
        self.run_path("auto")

    def test_buffered_path(self):
        self.run_path("off")


if __name__ == "__main__":
    unittest.main()
