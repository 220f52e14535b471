#!/usr/bin/env python3
"""Build lb's container image here and check it the way a user would.

    tools/image/image.py [--build-dir build] [--werror] all

Steps (each also a subcommand): `engine` finds a Docker engine or starts one
(own data root, exec root, socket and pidfile under BUILD/image-engine, no
bridge), `base` provides a Debian 12 base image (LB_IMAGE_BASE, a local
debian:bookworm-slim, or a debootstrap minbase tree imported from the tarball
cached at BUILD/cache/bookworm-minbase.tar), `build` runs docker/Dockerfile,
`check` runs the image on the host network against lb-backend processes and
checks: non-root, no compiler in the image, HEALTHCHECK, proxying, reload on a
change in the mounted config directory, a broken config refused while serving,
and a drain on `docker stop` that lets an in-flight request finish.

It prints the figures (build time, image size, run-to-ready) and ends with
"N passed, N failed". An engine it started is stopped again (by PID).
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE_TAG = "lb-base:bookworm-minbase"
LOCAL_SLIM = "debian:bookworm-slim"
UID = 10001


def log(msg):
    print(f"image: {msg}", flush=True)


class Fail(Exception):
    pass


# ----------------------------------------------------------------- engine --

class Engine:
    def __init__(self, build_dir):
        self.state = os.path.join(build_dir, "image-engine")
        self.docker = os.environ.get("DOCKER", "docker")
        self.env = dict(os.environ)
        self.pid = None  # set when we started dockerd

    def run(self, *args, check=True, capture=True, timeout=None, input=None):
        r = subprocess.run([self.docker, *args], env=self.env, input=input, timeout=timeout,
                           stdout=subprocess.PIPE if capture else None,
                           stderr=subprocess.PIPE if capture else None, text=True)
        if check and r.returncode != 0:
            raise Fail(f"docker {' '.join(args[:3])} failed ({r.returncode}): {(r.stderr or '').strip()[-2000:]}")
        return r

    def answers(self):
        try:
            return self.run("version", "--format", "{{.Server.Version}}", check=False, timeout=20).returncode == 0
        except (subprocess.TimeoutExpired, FileNotFoundError):
            return False

    def ensure(self):
        if shutil.which(self.docker) is None:
            raise Fail(f"no docker client ('{self.docker}' not in PATH): apt-get install docker.io")
        # An engine the user already runs (DOCKER_HOST or the default socket).
        if self.answers():
            log(f"using the running engine ({self.env.get('DOCKER_HOST', 'default socket')})")
            return
        dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
        if dockerd is None:
            raise Fail("no Docker engine answers and dockerd is not installed (apt-get install docker.io)")
        if os.geteuid() != 0:
            raise Fail("no Docker engine answers and starting dockerd needs root")
        os.makedirs(self.state, exist_ok=True)
        sock = os.path.join(self.state, "docker.sock")
        pidfile = os.path.join(self.state, "dockerd.pid")
        self._stop_stale(pidfile)
        self.env["DOCKER_HOST"] = f"unix://{sock}"
        logf = open(os.path.join(self.state, "dockerd.log"), "ab")
        # No bridge and no iptables: containers use --network host only; the
        # default bridge's private ranges are not for test traffic here.
        cmd = [dockerd, "--data-root", os.path.join(self.state, "data"),
               "--exec-root", os.path.join(self.state, "exec"), "--pidfile", pidfile,
               "-H", f"unix://{sock}", "--bridge=none", "--iptables=false", "--ip-masq=false",
               "--storage-driver=overlay2"]
        proc = subprocess.Popen(cmd, stdout=logf, stderr=logf, start_new_session=True)
        self.pid = proc.pid
        self.proc = proc
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise Fail(f"dockerd exited ({proc.returncode}): {self._log_tail()}")
            if self.answers():
                log(f"started dockerd pid {self.pid} (state in {self.state})")
                return
            time.sleep(0.5)
        self.stop()
        raise Fail(f"dockerd did not answer within 60 s: {self._log_tail()}")

    def _log_tail(self):
        try:
            with open(os.path.join(self.state, "dockerd.log"), errors="replace") as f:
                return "".join(f.readlines()[-15:])
        except OSError:
            return "(no log)"

    def _stop_stale(self, pidfile):
        # A previous run killed before it could stop its own dockerd: that
        # process holds the pidfile and data root. Only a dockerd whose
        # command line names this very data root is stopped.
        try:
            pid = int(open(pidfile).read().strip())
            cmdline = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace")
        except (OSError, ValueError):
            return
        if "dockerd" in cmdline and self.state in cmdline:
            log(f"stopping a stale dockerd pid {pid} left by an earlier run")
            os.kill(pid, signal.SIGTERM)
            for _ in range(100):
                if not os.path.exists(f"/proc/{pid}"):
                    break
                time.sleep(0.2)

    def stop(self):
        if self.pid is None:
            return
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait()
        log(f"stopped dockerd pid {self.pid}")
        self.pid = None
        # dockerd leaves its default network namespace bind-mounted under the
        # exec root; unmounted so `make clean` can remove the build tree.
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for m in sorted((m for m in mounts if m.startswith(self.state + "/")), reverse=True):
            subprocess.run(["umount", m], stderr=subprocess.DEVNULL)

    def has_image(self, ref):
        return self.run("image", "inspect", ref, check=False).returncode == 0


# ------------------------------------------------------------------- base --

def apt_mirror():
    """The Debian mirror this machine's apt uses (so no host is hard-coded)."""
    for path in ["/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list"]:
        try:
            text = open(path).read()
        except OSError:
            continue
        m = re.search(r"^URIs:\s*(\S+)", text, re.M) or re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\b", text, re.M)
        if m:
            return m.group(1)
    raise Fail("cannot find a Debian mirror in /etc/apt/sources.list(.d); set LB_IMAGE_BASE to a bookworm image")


def base_tarball(build_dir):
    cache = os.path.join(build_dir, "cache")
    tarball = os.path.join(cache, "bookworm-minbase.tar")
    if os.path.exists(tarball):
        return tarball
    if shutil.which("debootstrap") is None:
        raise Fail("no base image and no debootstrap (apt-get install debootstrap), or set LB_IMAGE_BASE")
    os.makedirs(cache, exist_ok=True)
    root = tempfile.mkdtemp(prefix="rootfs.", dir=cache)
    t0 = time.monotonic()
    log(f"debootstrap --variant=minbase bookworm (cached afterwards in {tarball})")
    r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", root, apt_mirror()],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise Fail(f"debootstrap failed: {r.stdout[-2000:]}")
    # Trimmed like debian:*-slim: no docs, man pages, locales or apt lists,
    # and dpkg told to keep skipping them in images built on top.
    for sub in ["usr/share/doc", "usr/share/man", "usr/share/locale", "var/lib/apt/lists", "var/cache/apt"]:
        p = os.path.join(root, sub)
        shutil.rmtree(p, ignore_errors=True)
        os.makedirs(p, exist_ok=True)
    os.makedirs(os.path.join(root, "var/lib/apt/lists/partial"), exist_ok=True)
    with open(os.path.join(root, "etc/dpkg/dpkg.cfg.d/slim"), "w") as f:
        f.write("path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/locale/*\n")
    subprocess.run(["tar", "-C", root, "-cf", tarball + ".part", "."], check=True)
    os.replace(tarball + ".part", tarball)
    shutil.rmtree(root, ignore_errors=True)
    log(f"base tarball built in {time.monotonic() - t0:.0f} s")
    return tarball


def ensure_base(engine, build_dir):
    if os.environ.get("LB_IMAGE_BASE"):
        return os.environ["LB_IMAGE_BASE"]
    if engine.has_image(LOCAL_SLIM):
        return LOCAL_SLIM
    if engine.has_image(BASE_TAG):
        return BASE_TAG
    tarball = base_tarball(build_dir)
    with open(tarball, "rb") as f:
        r = subprocess.run([engine.docker, "import", "-", BASE_TAG], stdin=f, env=engine.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise Fail(f"docker import failed: {r.stderr}")
    return BASE_TAG


# ------------------------------------------------------------------ build --

def build_image(engine, base, tag, werror, no_cache=False, prebuilt=None):
    args = ["build", "--network", "host", "--build-arg", f"BASE={base}", "-f", os.path.join(REPO, "docker/Dockerfile"),
            "-t", tag] + (["--no-cache"] if no_cache else [])
    if werror:
        args += ["--build-arg", "LB_WERROR=ON"]
    staged = None
    if prebuilt:
        # Handed in through the context (the legacy builder has no other way
        # in); a name of its own so two runs never share it.
        if not os.access(prebuilt, os.X_OK):
            raise Fail(f"--prebuilt {prebuilt}: no such executable")
        staged = os.path.join(REPO, ".image-prebuilt", f"lb-{os.getpid()}")
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        shutil.copy2(prebuilt, staged)
        args += ["--build-arg", f"LB_PREBUILT={os.path.relpath(staged, REPO)}"]
        log(f"lb from {prebuilt} (configured in the image, not compiled again)")
    t0 = time.monotonic()
    try:
        r = engine.run(*args, REPO, check=False)
    finally:
        if staged:
            os.unlink(staged)
            try:
                os.rmdir(os.path.dirname(staged))
            except OSError:
                pass  # another run's binary is still there
    secs = time.monotonic() - t0
    if r.returncode != 0:
        raise Fail(f"docker build failed:\n{(r.stdout or '')[-4000:]}\n{(r.stderr or '')[-2000:]}")
    size = int(engine.run("image", "inspect", "-f", "{{.Size}}", tag).stdout.strip())
    log(f"built {tag} from {base} in {secs:.1f} s; size {size / 1e6:.1f} MB")
    return secs, size


# ------------------------------------------------------------------ check --

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=5.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read().decode(errors="replace")
    finally:
        c.close()


def wait_for(what, fn, timeout):
    """Polls fn() until it returns a true value; bounded in time."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, http.client.HTTPException) as e:
            last = e
        time.sleep(0.1)
    raise Fail(f"{what}: not within {timeout} s" + (f" (last error: {last})" if last else ""))


class Backend:
    def __init__(self, binary, name):
        self.p = subprocess.Popen([binary, "--name", name, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline().strip()
        m = re.match(r"listening (\S+):(\d+)$", line)
        if not m:
            self.stop()
            raise Fail(f"lb-backend printed '{line}'")
        self.port = int(m.group(2))

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def lb_config(listen_port, admin_port, backend_port, broken=False):
    # A config a user would mount: their own listener, admin and pool.
    extra = "    surprise_key: 1\n" if broken else ""
    return f"""workers: 2
drain_timeout: 15s
admin:
  listen: 127.0.0.1:{admin_port}
listeners:
  - name: web
    listen: 127.0.0.1:{listen_port}
    protocol: http
    routes:
      - match: {{ path_prefix: / }}
        pool: app
pools:
  - name: app
{extra}    endpoints:
      - {{ address: 127.0.0.1:{backend_port}, weight: 1 }}
"""


def write_atomically(path, text):
    # Like a ConfigMap update or an editor's save: a new file renamed over.
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


class Checks:
    def __init__(self):
        self.passed, self.failed = 0, 0

    def run(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
            self.passed += 1
            log(f"PASS {name} ({time.monotonic() - t0:.1f} s)")
        except (Fail, AssertionError, OSError, http.client.HTTPException, subprocess.TimeoutExpired) as e:
            self.failed += 1
            log(f"FAIL {name}: {e}")


def check_image(engine, tag, build_dir, backend_bin, figures):
    checks = Checks()
    work = tempfile.mkdtemp(prefix="image-check.", dir=build_dir)
    conf_dir = os.path.join(work, "conf")
    os.makedirs(conf_dir)
    os.chmod(work, 0o755)
    os.chmod(conf_dir, 0o755)  # readable by the image's UID 10001
    name = f"lb-image-check-{os.getpid()}"
    backends = []
    st = {}

    def static_checks():
        cfg = json.loads(engine.run("image", "inspect", tag).stdout)[0]["Config"]
        assert cfg["User"] == f"{UID}:{UID}", f"image user is {cfg['User']!r}"
        assert cfg.get("StopSignal") == "SIGTERM", f"StopSignal {cfg.get('StopSignal')!r}"
        hc = (cfg.get("Healthcheck") or {}).get("Test") or []
        assert hc[:3] == ["CMD", "lb", "--probe"], f"HEALTHCHECK is {hc} (want the exec form of lb --probe)"
        cid = engine.run("create", tag).stdout.strip()
        try:
            exp = subprocess.Popen([engine.docker, "export", cid], stdout=subprocess.PIPE, env=engine.env)
            names = set()
            with tarfile.open(fileobj=exp.stdout, mode="r|") as t:
                for m in t:
                    names.add(m.name.lstrip("./"))
            exp.wait()
        finally:
            engine.run("rm", cid, check=False)
        assert "usr/local/bin/lb" in names and "etc/lb/lb.yaml" in names, "lb or /etc/lb/lb.yaml missing"
        bad = sorted(n for n in names if re.match(r"usr/bin/(g\+\+|c\+\+|gcc|cc|clang|ld|as|make|cmake)(-[\d.]+)?$", n)
                     or re.match(r"usr/include/(boost|openssl|yaml-cpp)/", n)
                     or re.match(r"usr/lib/gcc/[^/]+/\d+/cc1", n))
        assert not bad, f"build tools or headers in the final image: {bad[:8]}"

    def start():
        backends.append(Backend(backend_bin, "alpha"))
        backends.append(Backend(backend_bin, "beta"))
        st["listen"], st["admin"] = free_port(), free_port()
        write_atomically(os.path.join(conf_dir, "lb.yaml"), lb_config(st["listen"], st["admin"], backends[0].port))
        t0 = time.monotonic()
        engine.run("run", "-d", "--name", name, "--network", "host", "--read-only", "--cap-drop", "ALL",
                   "--security-opt", "no-new-privileges", "-v", f"{conf_dir}:/etc/lb:ro",
                   "--health-cmd", f"lb --probe http://127.0.0.1:{st['admin']}/healthz",
                   "--health-interval", "1s", "--health-start-period", "1s", tag)
        wait_for("GET /readyz 200", lambda: http_get(st["admin"], "/readyz", 1)[0] == 200, 30)
        figures["run_to_ready_s"] = time.monotonic() - t0
        log(f"docker run to /readyz 200: {figures['run_to_ready_s']:.2f} s")

    def non_root():
        pid = int(engine.run("inspect", "-f", "{{.State.Pid}}", name).stdout.strip())
        with open(f"/proc/{pid}/status") as f:
            uids = re.search(r"^Uid:\s+(.*)$", f.read(), re.M).group(1).split()
        assert all(u == str(UID) for u in uids), f"lb runs with uids {uids}"

    def healthy():
        wait_for("docker health 'healthy'", lambda: engine.run(
            "inspect", "-f", "{{.State.Health.Status}}", name).stdout.strip() == "healthy", 20)

    def proxies():
        status, headers, body = http_get(st["listen"], "/")
        assert status == 200 and headers.get("X-Backend") == "alpha", f"{status} {headers.get('X-Backend')} {body!r}"

    def reloads():
        write_atomically(os.path.join(conf_dir, "lb.yaml"), lb_config(st["listen"], st["admin"], backends[1].port))
        wait_for("answers from 'beta' after the config change",
                 lambda: http_get(st["listen"], "/")[1].get("X-Backend") == "beta", 15)

    def refuses_broken():
        write_atomically(os.path.join(conf_dir, "lb.yaml"),
                         lb_config(st["listen"], st["admin"], backends[0].port, broken=True))

        def failure_counted():
            m = re.search(r'^lb_config_reloads_total\{result="failure"\} (\S+)', http_get(st["admin"], "/metrics")[2], re.M)
            return m and float(m.group(1)) >= 1
        wait_for("lb_config_reloads_total{result=failure} >= 1", failure_counted, 15)
        logs = engine.run("logs", name).stderr + engine.run("logs", name).stdout
        assert re.search(r"/etc/lb/lb\.yaml:\d+:\d+: ", logs), "no FILE:LINE:COL error in the container log"
        for _ in range(5):
            status, headers, _ = http_get(st["listen"], "/")
            assert status == 200 and headers.get("X-Backend") == "beta", f"{status} {headers.get('X-Backend')}"
        assert http_get(st["admin"], "/readyz")[0] == 200

    def drains():
        result = {}

        def slow():
            try:
                result["r"] = http_get(st["listen"], "/?delay=2500", timeout=20)
            except Exception as e:  # reported below
                result["e"] = e
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.5)  # the request is now waiting at the backend
        t0 = time.monotonic()
        engine.run("stop", "-t", "30", name, timeout=60)
        stop_secs = time.monotonic() - t0
        t.join(25)
        assert "r" in result, f"in-flight request failed: {result.get('e')}"
        status, headers, body = result["r"]
        assert status == 200 and body == "beta\n", f"in-flight request got {status} {body!r}"
        state = json.loads(engine.run("inspect", name).stdout)[0]["State"]
        assert state["ExitCode"] == 0, f"exit code {state['ExitCode']} (OOMKilled={state['OOMKilled']})"
        # It left once the request was done, well before drain_timeout (15s)
        # or docker's SIGKILL at 30s.
        assert stop_secs < 12, f"docker stop took {stop_secs:.1f} s"
        logs = engine.run("logs", name).stderr
        assert "draining" in logs, "no 'draining' line in the log"
        log(f"docker stop with a request in flight: {stop_secs:.1f} s, exit 0")

    try:
        checks.run("image: non-root user, STOPSIGNAL, HEALTHCHECK via lb --probe, no compilers or headers", static_checks)
        checks.run("container starts read-only, all capabilities dropped, and gets ready", start)
        if checks.failed == 0:
            checks.run("lb runs as UID 10001", non_root)
            checks.run("HEALTHCHECK (lb --probe) reports healthy", healthy)
            checks.run("proxies to the backend", proxies)
            checks.run("reloads when the mounted config directory changes", reloads)
            checks.run("refuses a broken config (FILE:LINE:COL) and keeps serving", refuses_broken)
            checks.run("docker stop drains: the in-flight request finishes, exit 0", drains)
    finally:
        if checks.failed:
            r = engine.run("logs", "--tail", "40", name, check=False)
            log("container log tail:\n" + (r.stdout or "") + (r.stderr or ""))
        engine.run("rm", "-f", name, check=False)
        for b in backends:
            b.stop()
        shutil.rmtree(work, ignore_errors=True)
    return checks


# ------------------------------------------------------------------- main --

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=["base-tarball", "engine", "base", "build", "check", "all"])
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build"))
    ap.add_argument("--tag", default="lb:local")
    ap.add_argument("--backend", help="lb-backend binary (default: BUILD/tools/backend/lb-backend)")
    ap.add_argument("--werror", action="store_true", help="build with -Werror (CI)")
    ap.add_argument("--no-cache", action="store_true", help="rebuild every layer (to time a cold build)")
    ap.add_argument("--prebuilt", help="an lb built from this tree (Release or RelWithDebInfo) to put in the "
                                       "image instead of compiling it in the build stage (CI)")
    ap.add_argument("--keep-engine", action="store_true", help="leave a dockerd this run started running")
    a = ap.parse_args()
    build_dir = os.path.abspath(a.build_dir)
    if a.step == "base-tarball":  # no engine needed (the package test uses it too)
        try:
            log(f"base tarball: {base_tarball(build_dir)}")
            print("1 passed, 0 failed")
            return 0
        except Fail as e:
            log(f"FAIL {e}")
            print("0 passed, 1 failed")
            return 1
    if a.step == "all" and os.environ.get("LB_SKIP_IMAGE_TEST") == "1":
        log("LB_SKIP_IMAGE_TEST=1: image test skipped")
        return 77
    backend = a.backend or os.path.join(build_dir, "tools/backend/lb-backend")
    engine = Engine(build_dir)
    figures = {}
    checks = Checks()
    try:
        engine.ensure()
        if a.step == "engine":
            if engine.pid:
                a.keep_engine = True
                print(f"export DOCKER_HOST={engine.env['DOCKER_HOST']}  # dockerd pid {engine.pid}")
            return 0
        base = ensure_base(engine, build_dir)
        log(f"base image: {base}")
        if a.step in ("build", "all"):
            figures["build_s"], figures["size_bytes"] = build_image(engine, base, a.tag, a.werror, a.no_cache, a.prebuilt)
        if a.step in ("check", "all"):
            if not os.access(backend, os.X_OK):
                raise Fail(f"no lb-backend at {backend} (build the tree first)")
            checks = check_image(engine, a.tag, build_dir, backend, figures)
    except Fail as e:
        log(f"FAIL {e}")
        checks.failed += 1
    finally:
        if not a.keep_engine:
            engine.stop()
    if figures:
        log("figures: " + json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in figures.items()}))
    print(f"{checks.passed} passed, {checks.failed} failed", flush=True)
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
