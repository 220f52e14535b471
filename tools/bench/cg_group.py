#!/usr/bin/env python3
"""Self cost of a callgrind dump grouped by component (per request).

usage: cg_group.py CALLGRIND_OUT REQUESTS

Components are guessed from the source file / function / object names that
callgrind_annotate prints: Boost.Beast HTTP, Beast buffers, Asio, allocator,
libc memory/string functions, lb's own code, other code of the binary.
"""
import collections
import re
import subprocess
import sys


def component(name):
    obj = name[name.rfind("[") + 1:-1] if name.endswith("]") else ""
    if re.search(r"malloc/|arena\.c|operator new|operator delete|:(cfree|free|malloc|realloc)\b", name):
        return "allocator (malloc/free/new/delete)"
    if "pthread_mutex" in name:
        return "pthread mutex"
    if re.search(r"mem(move|cpy|set|chr|cmp)|str(len|chr|cmp)", name):
        return "libc mem*/str* (rep movsb counts 1 per byte)"
    if "beast/http" in name or "beast::http" in name:
        return "Boost.Beast HTTP (parser, fields, serializer)"
    if "beast" in name or "mp11" in name or "intrusive" in name:
        return "Boost.Beast buffers / intrusive containers"
    if "asio" in name:
        return "Boost.Asio (coroutines, executors, scheduler, reactor)"
    if name.startswith("lb/") or "/lb/" in name.split(":")[0] or "lb::" in name:
        return "lb own code"
    if "libc.so" in obj:
        return "libc other (syscall wrappers, ...)"
    if obj:
        return "other: " + obj.rsplit("/", 1)[-1]
    return "other"


def main():
    path, n = sys.argv[1], int(sys.argv[2])
    out = subprocess.run(["callgrind_annotate", "--auto=no", "--threshold=100", path],
                         capture_output=True, text=True, check=True).stdout
    groups, total = collections.Counter(), 0
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*)$", line)
        if not m or "PROGRAM TOTALS" in line:
            continue
        c = int(m.group(1).replace(",", ""))
        groups[component(m.group(2))] += c
        total += c
    for g, c in groups.most_common():
        print("%10.0f instr/req %5.1f%%  %s" % (c / n, 100 * c / total if total else 0, g))
    print("%10.0f instr/req        total" % (total / n))


if __name__ == "__main__":
    main()
