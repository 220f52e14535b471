"""lb's jemalloc settings (lb/jemalloc_conf.cc) reach jemalloc, and an
operator's MALLOC_CONF still wins over them. jemalloc prints the options in
force at exit with stats_print."""

import re
import subprocess
import sys

LB = sys.argv[1]
EXPECTED = {"tcache_nslots_small_max": "1024", "lg_tcache_nslots_mul": "3", "tcache_gc_incr_bytes": "8388608"}


def options(malloc_conf):
    p = subprocess.run([LB, "--version"], env={"MALLOC_CONF": malloc_conf}, capture_output=True, text=True,
                       timeout=30, check=True)
    return dict(re.findall(r"^\s+opt\.(\w+): (\S+)$", p.stderr, re.M))


def main():
    got = options("stats_print:true")
    if not got:
        sys.exit("no jemalloc statistics printed: is lb linked with jemalloc?")
    for name, value in EXPECTED.items():
        if got.get(name) != value:
            sys.exit(f"opt.{name} is {got.get(name)!r}, lb/jemalloc_conf.cc sets {value}")
    over = options("stats_print:true,tcache_gc_incr_bytes:65536")
    if over.get("tcache_gc_incr_bytes") != "65536":
        sys.exit(f"MALLOC_CONF did not override lb's setting: {over.get('tcache_gc_incr_bytes')!r}")
    print("jemalloc settings in force:", ", ".join(f"{k}={got[k]}" for k in EXPECTED))


if __name__ == "__main__":
    main()
