"""Bodies stream through with bounded buffers: 1 GiB each way, RSS stays flat."""

import hashlib
import random
import threading
import time
import unittest

from lib import harness
from lib.harness import build_request

GIB = 1 << 30
MIB = 1 << 20
RSS_BUDGET_KIB = 64 * 1024  # peak RSS minus RSS before the transfer


class Pattern:
    """A deterministic, non-repeating-at-power-of-two body: an 8-byte counter in front of
    a block of prime size, truncated to `total` bytes. Hashed as it is generated."""

    BLOCK = random.Random(20240601).randbytes(1048573)

    def __init__(self, total):
        self.total = total
        self.sha = hashlib.sha256()

    def units(self):
        sent = 0
        i = 0
        while sent < self.total:
            unit = i.to_bytes(8, "big") + self.BLOCK
            unit = unit[: self.total - sent]
            self.sha.update(unit)
            sent += len(unit)
            i += 1
            yield unit


class StreamingTest(harness.LbTestCase):
    def setUp(self):
        self.a = self.backend("a")
        self.lb_ = self.lb(harness.config([harness.pool("p", self.a)], workers=1,
                                          routes=[harness.route("p", timeout="60s")]))
        # Warm up both directions so one-off allocations are in the baseline.
        c = self.client(self.lb_.port, timeout=15)
        self.assertEqual(c.request("GET", f"/?size={4 * MIB}").body_bytes, 4 * MIB)
        self.assertEqual(c.request("POST", "/?echo=1", body=b"w" * (4 * MIB)).status, 200)
        c.close()
        time.sleep(0.2)
        self.rss_before = self.lb_.rss_kib()
        self.sampler = harness.RssSampler(self.lb_.pid)
        self.sampler.start()
        self.addCleanup(self.sampler.stop)

    def assert_rss_flat(self):
        peak = self.sampler.stop()
        self.assertGreater(self.sampler.samples, 10, "RSS was not sampled during the transfer")
        grew = peak - self.rss_before
        self.assertLess(grew, RSS_BUDGET_KIB,
                        f"lb RSS grew by {grew} KiB ({self.rss_before} -> {peak} KiB) during the transfer")

    def download(self, target, sink=None):
        c = self.client(self.lb_.port, timeout=60)
        c.send(build_request("GET", target))
        return c.read_response(sink=sink or (lambda d: None))

    def test_download_1gib_content_length(self):
        r = self.download(f"/?size={GIB}")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("Content-Length"), str(GIB))
        self.assertEqual(r.body_bytes, GIB)
        self.assert_rss_flat()

    def test_download_1gib_chunked(self):
        r = self.download(f"/?size={GIB}&chunked=1")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.chunked, r.headers)
        self.assertEqual(r.body_bytes, GIB)
        self.assert_rss_flat()

    def upload(self, chunked):
        pattern = Pattern(GIB)
        c = self.client(self.lb_.port, timeout=60)
        if chunked:
            c.send(build_request("POST", "/?echo=1", headers=[("Transfer-Encoding", "chunked")]))
            for unit in pattern.units():
                c.send(b"%x\r\n" % len(unit))
                c.send(unit)
                c.send(b"\r\n")
            c.send(b"0\r\n\r\n")
        else:
            c.send(build_request("PUT", "/?echo=1", headers=[("Content-Length", str(GIB))]))
            for unit in pattern.units():
                c.send(unit)
        r = c.read_response()
        self.assertEqual(r.status, 200, r)
        e = r.json()
        self.assertEqual(e["body_bytes"], GIB)
        self.assertEqual(e["body_sha256"], pattern.sha.hexdigest())
        self.assert_rss_flat()

    def test_upload_1gib_content_length(self):
        self.upload(chunked=False)

    def test_upload_1gib_chunked(self):
        self.upload(chunked=True)

    def test_slow_reader_back_pressure(self):
        # The client stops reading for 2 s: lb must stop reading the upstream, not buffer.
        c = self.client(self.lb_.port, timeout=60)
        c.send(build_request("GET", f"/?size={512 * MIB}"))
        version, status, reason, headers, raw = c.read_head()
        self.assertEqual(status, 200)
        time.sleep(2.0)
        got = len(c.buf)
        while got < 512 * MIB:
            data = c.sock.recv(MIB)
            if not data:
                break
            got += len(data)
        self.assertEqual(got, 512 * MIB)
        self.assert_rss_flat()

    def test_full_duplex_echo(self):
        # The backend streams the body back while it is still arriving: lb must move
        # both directions at once (otherwise both sides block on full buffers).
        total = 512 * MIB  # long enough for the RSS sampler to watch it
        pattern = Pattern(total)
        c = self.client(self.lb_.port, timeout=15)
        c.send(build_request("POST", "/?echo=body", headers=[("Content-Length", str(total))]))
        errors = []

        def sender():
            try:
                for unit in pattern.units():
                    c.sock.sendall(unit)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=sender, daemon=True)
        t.start()
        got = hashlib.sha256()
        r = c.read_response(sink=got.update)
        t.join(30)
        self.assertEqual(errors, [])
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body_bytes, total)
        self.assertEqual(got.hexdigest(), pattern.sha.hexdigest())
        self.assert_rss_flat()


class IntegrityTest(harness.LbTestCase):
    def test_download_bytes_identical_to_direct(self):
        a = self.backend("a")
        lb = self.lb(harness.config([harness.pool("p", a)]))
        for target in (f"/?size={64 * MIB + 7}", f"/?size={64 * MIB + 7}&chunked=1"):
            with self.subTest(target=target):
                digests = []
                for port in (a.port, lb.port):
                    h = hashlib.sha256()
                    with harness.Client(port, timeout=15) as c:
                        r = c.request("GET", target, sink=h.update)
                    self.assertEqual((r.status, r.body_bytes), (200, 64 * MIB + 7))
                    digests.append(h.hexdigest())
                self.assertEqual(digests[0], digests[1])


if __name__ == "__main__":
    unittest.main()
