"""Helpers for the shipping tests: paths, the Go chart renderer and the npm
validator, both built or installed once into the build tree and reused."""
import filecmp
import os
import shutil
import subprocess
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("LB_BUILD_DIR", os.path.join(REPO, "build"))
LB = os.environ.get("LB_BIN", os.path.join(BUILD, "lb/lb"))


def run(cmd, check=True, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=600, **kw)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def renderer():
    """tools/chart/render.go, built in GOPATH mode from Debian's Go packages;
    the Go build cache lives in the build tree."""
    out = os.path.join(BUILD, "chart-render")
    env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode", GOCACHE=os.path.join(BUILD, "go-cache"),
               GOFLAGS="")
    run(["go", "build", "-o", out, "./tools/chart"], cwd=REPO, env=env)
    return out


def validator():
    """tools/k8s-check in BUILD/k8s-check; `npm ci` only when the lock changed."""
    dst = os.path.join(BUILD, "k8s-check")
    src = os.path.join(REPO, "tools/k8s-check")
    os.makedirs(dst, exist_ok=True)
    for f in ["package.json", "package-lock.json", "validate.mjs"]:
        shutil.copy(os.path.join(src, f), dst)
    stamp = os.path.join(dst, "node_modules", ".lb-installed")
    if not (os.path.exists(stamp) and filecmp.cmp(stamp, os.path.join(dst, "package-lock.json"), shallow=False)):
        run(["npm", "ci", "--no-audit", "--no-fund"], cwd=dst)
        shutil.copy(os.path.join(dst, "package-lock.json"), stamp)
    return os.path.join(dst, "validate.mjs")


def validate_manifests(path):
    return run(["node", validator(), path], check=False)


def write_temp(text, suffix=".yaml"):
    f = tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False)
    f.write(text)
    f.close()
    return f.name
