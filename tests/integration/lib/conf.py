"""lb configs for tests, written as YAML from plain dicts and lists: pools,
routes, and a whole config around them."""

import json
import re

from lib.procs import Backend

_PLAIN = re.compile(r"^[A-Za-z0-9_/][A-Za-z0-9_./:\-]*$")


def _scalar(v):
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return str(v)
    s = str(v)
    if _PLAIN.match(s) and not re.match(r"^[0-9.+\-]+$", s) and s.lower() not in (
            "true", "false", "yes", "no", "on", "off", "null", "y", "n"):
        return s
    return json.dumps(s)


def to_yaml(obj, indent=0):
    """Minimal block-style YAML emitter for dicts, lists and scalars."""
    pad = " " * indent
    lines = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{_scalar(k)}:")
                lines.extend(to_yaml(v, indent + 2))
            elif isinstance(v, dict):
                lines.append(f"{pad}{_scalar(k)}: {{}}")
            elif isinstance(v, list):
                lines.append(f"{pad}{_scalar(k)}: []")
            else:
                lines.append(f"{pad}{_scalar(k)}: {_scalar(v)}")
    elif isinstance(obj, list):
        for item in obj:
            if isinstance(item, (dict, list)) and item:
                sub = to_yaml(item, indent + 2)
                sub[0] = pad + "- " + sub[0][indent + 2:]
                lines.extend(sub)
            else:
                lines.append(f"{pad}- {_scalar(item) if not isinstance(item, (dict, list)) else '{}'}")
    else:
        lines.append(pad + _scalar(obj))
    return lines


def endpoints(*backends, weights=None):
    out = []
    for i, b in enumerate(backends):
        addr = b.endpoint() if isinstance(b, Backend) else str(b)
        ep = {"address": addr}
        if weights is not None:
            ep["weight"] = weights[i]
        out.append(ep)
    return out


def pool(name, *backends, weights=None, **opts):
    """A pool dict; backends are Backend objects or 'host:port' strings."""
    p = {"name": name, "balancer": "round_robin", "endpoints": endpoints(*backends, weights=weights)}
    p.update(opts)
    return p


def route(pool_name, name=None, host=None, path_prefix=None, path_exact=None, path_regex=None,
          headers=None, timeout=None, set_headers=None):
    r = {}
    if name:
        r["name"] = name
    match = {}
    if host is not None:
        match["host"] = host
    if path_prefix is not None:
        match["path_prefix"] = path_prefix
    if path_exact is not None:
        match["path_exact"] = path_exact
    if path_regex is not None:
        match["path_regex"] = path_regex
    if headers:
        match["headers"] = headers
    if not match:
        match["path_prefix"] = "/"
    r["match"] = match
    r["pool"] = pool_name
    if timeout is not None:
        r["timeout"] = timeout
    if set_headers:
        r["set_headers"] = set_headers
    return r


def config(pools, routes=None, limits=None, workers=1, drain_timeout="3s", admin=True,
           listeners=None, listen="127.0.0.1:0"):
    """YAML for one http listener `web` (port 0) routing to `pools` (first pool by default)."""
    if listeners is None:
        lst = {"name": "web", "listen": listen, "protocol": "http"}
        if limits:
            lst["limits"] = limits
        lst["routes"] = routes if routes is not None else [route(pools[0]["name"])]
        listeners = [lst]
    doc = {"workers": workers, "drain_timeout": drain_timeout}
    if admin:
        doc["admin"] = {"listen": "127.0.0.1:0"}
    doc["listeners"] = listeners
    doc["pools"] = pools
    return "\n".join(to_yaml(doc)) + "\n"
