"""Helpers of the observability suite: a real Prometheus server, a real headless
chromium (Debian's, driven by playwright-core through tools/browser/driver.mjs),
and the three-pool lb these tests look at.

Every process is started here and stopped by its PID (SIGTERM, then SIGKILL),
also when a test fails; it dies with the test runner (PR_SET_PDEATHSIG). Missing
tools fail the test with what to install: `make test-deps` installs them all, and
these tests are never skipped.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from lib import harness

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
RULES = os.path.join(REPO, "deploy", "prometheus", "lb-rules.yaml")
DASHBOARD = os.path.join(REPO, "deploy", "grafana", "lb.json")
BROWSER_DIR = os.path.join(REPO, "tools", "browser")


def need(test, program, package):
    path = shutil.which(program)
    if not path:
        test.fail(f"{program} not found: install the Debian package '{package}' (make test-deps)")
    return path


def artifacts_dir(name):
    """A folder under the build tree (CTest runs us there) for screenshots and logs."""
    path = os.path.join(os.environ.get("LB_ARTIFACTS", os.path.join(os.getcwd(), "artifacts")), name)
    os.makedirs(path, exist_ok=True)
    return path


class Child:
    """One child process with drained output, stopped by PID."""

    def __init__(self, args, stdin=subprocess.DEVNULL, cwd=None, env=None):
        self.proc = subprocess.Popen(args, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     cwd=cwd, env=env, preexec_fn=harness._die_with_parent)
        harness._LIVE.add(self.proc)
        self.pid = self.proc.pid
        self.out = harness._LineReader(self.proc.stdout, f"{os.path.basename(args[0])}-stdout")
        self.err = harness._LineReader(self.proc.stderr, f"{os.path.basename(args[0])}-stderr")
        self.out.start()
        self.err.start()

    def stop(self):
        code = harness._stop_process(self.proc)
        if self.proc.stdin:
            self.proc.stdin.close()
        harness._close_pipes(self.proc, self.out, self.err)
        return code


def http_json(url, timeout=10.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


# --------------------------------------------------------------------------- Prometheus

class Prometheus:
    """A real Prometheus server scraping `targets` every second and loading `rule_files`."""

    def __init__(self, test, targets, rule_files=(), interval="1s"):
        binary = need(test, "prometheus", "prometheus")
        self.dir = tempfile.TemporaryDirectory(prefix="lb-prom-")
        cfg = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval, "scrape_timeout": interval},
            "rule_files": list(rule_files),
            "scrape_configs": [{"job_name": "lb", "static_configs": [{"targets": list(targets)}]}],
        }
        path = os.path.join(self.dir.name, "prometheus.yml")
        with open(path, "w") as f:
            json.dump(cfg, f)  # JSON is YAML
        self.port = harness.closed_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.child = Child([binary, f"--config.file={path}", f"--storage.tsdb.path={self.dir.name}/data",
                            f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn",
                            "--storage.tsdb.retention.time=1h"])
        test.addCleanup(self.stop)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.child.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prometheus did not become ready:\n" + "\n".join(self.child.err.snapshot()))
            time.sleep(0.2)

    def api(self, path, **params):
        q = urllib.parse.urlencode(params, doseq=True)
        body = http_json(f"{self.url}/api/v1/{path}" + (f"?{q}" if q else ""))
        if body.get("status") != "success":
            raise RuntimeError(f"{path} {params}: {body}")
        return body["data"]

    def query(self, expr):
        """Instant query; returns (result list, error text or None)."""
        try:
            return self.api("query", query=expr)["result"], None
        except urllib.error.HTTPError as e:
            return [], e.read().decode(errors="replace")

    def stop(self):
        self.child.stop()
        self.dir.cleanup()


# --------------------------------------------------------------------------- browser

class Browser:
    """Debian's chromium, headless, through tools/browser/driver.mjs (JSON lines)."""

    def __init__(self, test):
        node = need(test, "node", "nodejs")
        need(test, "chromium", "chromium")
        if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
            test.fail("tools/browser/node_modules/playwright-core is missing: run `make test-deps` "
                      "(npm ci --prefix tools/browser)")
        self.child = Child([node, os.path.join(BROWSER_DIR, "driver.mjs")], stdin=subprocess.PIPE, cwd=BROWSER_DIR)
        test.addCleanup(self.stop)
        self._next = 0
        self.version = self._answer(60)["version"]

    def _answer(self, timeout):
        want = self._next
        line = self.child.out.wait_for(lambda lines: lines[want] if len(lines) > want else None,
                                       time.monotonic() + timeout)
        if line is None:
            raise RuntimeError("browser driver did not answer; stderr:\n" + "\n".join(self.child.err.snapshot()[-30:]))
        self._next += 1
        msg = json.loads(line)
        if not msg.get("ok"):
            raise RuntimeError("browser: " + msg.get("error", line))
        return msg

    def call(self, cmd, timeout=30, **args):
        self.child.proc.stdin.write((json.dumps({"cmd": cmd, **args}) + "\n").encode())
        self.child.proc.stdin.flush()
        return self._answer(timeout)["value"]

    def open(self, url, width, height, js=True):
        return self.call("open", url=url, width=width, height=height, js=js)

    def eval(self, expr):
        return self.call("eval", expr=expr)

    def screenshot(self, path):
        return self.call("screenshot", path=path)

    def wait(self, expr, timeout, poll=0.1):
        """Polls a page expression until truthy; returns (value, seconds waited) or (last value, None)."""
        t0 = time.monotonic()
        value = None
        while time.monotonic() - t0 < timeout:
            value = self.eval(expr)
            if value:
                return value, time.monotonic() - t0
            time.sleep(poll)
        return value, None

    def stop(self):
        if self.child.proc.poll() is None:
            try:
                self.child.proc.stdin.write(b'{"cmd": "quit"}\n')
                self.child.proc.stdin.flush()
                self.child.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.child.stop()
