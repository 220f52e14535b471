"""A drained socket is waited on, not read again first.

After a read that empties a socket (TCP_INQ reports nothing left, see
lb/io/inq_read.h), lb's next read waits for epoll instead of trying a recv
that can only fail with EAGAIN. Traced with strace on the running lb:
request/response messages through a TCP flow cost one successful read per
message and direction, and no failed ones (before: one EAGAIN read per
message and direction)."""

import glob
import os
import subprocess
import time
import unittest

from lib import harness
from tcp import support

MESSAGES = 200


def traced(pid):
    """Whether every thread of `pid` has a tracer attached."""
    tasks = glob.glob(f"/proc/{pid}/task/*/status")
    if not tasks:
        return False
    for status in tasks:
        try:
            with open(status) as f:
                tracer = next(line for line in f if line.startswith("TracerPid:"))
        except (OSError, StopIteration):
            return False
        if tracer.split()[1] == "0":
            return False
    return True


@unittest.skipIf(os.environ.get("LB_SANITIZED"), "sanitizer runtimes make reads of their own")
class ReadSyscallTest(harness.LbTestCase):
    def test_request_response_messages_cost_no_failed_read(self):
        e = support.Echo("echo")
        self.addCleanup(e.stop)
        lb = self.lb(support.tcp_config([e.endpoint()]))
        s = support.connect(lb.port)
        self.addCleanup(s.close)
        s.sendall(b"warm")
        self.assertEqual(support.read_exact(s, 4), b"warm")

        out = os.path.join(lb.dir.name, "strace.txt")
        tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=recvfrom,recvmsg,read", "-o", out,
                                   "-p", str(lb.pid)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            self.assertTrue(harness.wait_until(lambda: traced(lb.pid), 10.0), "strace did not attach")
            for i in range(MESSAGES):
                msg = b"m%03d" % i
                s.sendall(msg)
                self.assertEqual(support.read_exact(s, len(msg)), msg)
                time.sleep(0.001)  # each message alone on the wire: one wakeup per read
        finally:
            tracer.terminate()
            tracer.wait(10)
        with open(out) as f:
            calls = [line for line in f if "recvmsg(" in line or "recvfrom(" in line]
        failed = [line for line in calls if "EAGAIN" in line]
        done = len(calls) - len(failed)
        # Both directions of every message went through the traced reads.
        self.assertGreaterEqual(done, 2 * MESSAGES, "".join(calls[:20]))
        # Before TCP_INQ: one EAGAIN read per message and direction (400).
        self.assertLessEqual(len(failed), 10, "".join(failed[:20]))


if __name__ == "__main__":
    unittest.main()
