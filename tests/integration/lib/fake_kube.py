"""A fake Kubernetes API server for tests: HTTPS with a test CA made at test
time (openssl command line; no key is committed), bearer-token auth, an
in-memory store per resource with one global, increasing resourceVersion, and
the list and watch semantics a client relies on:

- LIST with limit/continue (pages of one consistent snapshot; items without
  kind/apiVersion, as the real server sends them);
- labelSelector and fieldSelector with `k=v` terms (on lists and watches;
  fields as dotted paths: metadata.name, type);
- WATCH (watch=1) streaming one JSON event per line with chunked encoding,
  resumed from resourceVersion out of a bounded event history; a version older
  than the history gets an ERROR event with a Status of code 410, as the real
  server's watch cache answers; BOOKMARKs every `bookmark_interval` seconds
  (or on bookmark_now()) when allowWatchBookmarks=true; timeoutSeconds ends
  the response cleanly;
- test controls: create/update/delete, expire_history(), drop_watches(),
  restart(keep_history=...), set_token(), and logs of every request and every
  TLS connection attempt (with times, for back-off checks).

Namespaced (/api/v1/namespaces/NS/services) and cluster-wide (/api/v1/services)
paths both work. Loopback only; port 0 then kept across restart().

Writes, as lb's writer (lb/kube/writer.h) makes them:
- PATCH .../ingresses/NAME/status with application/merge-patch+json: the
  patch's `status` merged into the stored Ingress (RFC 7386), a new
  resourceVersion, a MODIFIED event for watches;
- POST /api/v1/namespaces/NS/events: stored (generateName honoured), see
  events();
- Leases (coordination.k8s.io/v1): GET, POST (409 AlreadyExists when it
  exists) and PUT with resourceVersion concurrency (404 when missing, 409
  Conflict on a stale version, 422 without one); lease(), and
  inject_conflicts(n) to answer the next n lease PUTs 409 as if another
  writer had just changed the Lease.
The request log holds every request's method, and its parsed JSON body.
"""

import base64
import collections
import datetime
import json
import os
import select
import socket
import ssl
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

# plural -> (group/version path, apiVersion, kind, namespaced)
RESOURCES = {
    "services": ("/api/v1", "v1", "Service", True),
    "secrets": ("/api/v1", "v1", "Secret", True),
    "ingresses": ("/apis/networking.k8s.io/v1", "networking.k8s.io/v1", "Ingress", True),
    "ingressclasses": ("/apis/networking.k8s.io/v1", "networking.k8s.io/v1", "IngressClass", False),
    "endpointslices": ("/apis/discovery.k8s.io/v1", "discovery.k8s.io/v1", "EndpointSlice", True),
    "events": ("/api/v1", "v1", "Event", True),
    "leases": ("/apis/coordination.k8s.io/v1", "coordination.k8s.io/v1", "Lease", True),
}


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch of `patch` onto `target`; returns the result."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d, name):
    """A CA certificate and key in `d`; returns (crt, key)."""
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".crt")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
             "-out", crt, "-days", "2", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign")
    return crt, key


def make_leaf(d, name, ca, sans):
    """A server certificate for `sans` ("DNS:x", "IP:127.0.0.1") signed by `ca`; returns (crt, key)."""
    key, csr, crt, ext = (os.path.join(d, name + x) for x in (".key", ".csr", ".crt", ".ext"))
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join(sans) + "\nextendedKeyUsage=serverAuth\n")
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
             "-out", csr, "-subj", "/CN=" + name)
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial", "-out", crt,
             "-days", "2", "-extfile", ext)
    return crt, key


def _status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Watch:
    """One live watch response: what drop_watches() needs to cut it."""

    def __init__(self, sock):
        self.sock = sock
        self.dropped = False
        self.bookmark = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def finish_request(self, request, client_address):
        # The TLS handshake runs here, on the connection's thread, so that a
        # client refusing our certificate is logged and never blocks accept().
        request.settimeout(10)
        try:
            conn = self.fake.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.fake._log_connection(False, str(e))
            return
        self.fake._log_connection(True, "")
        try:
            self.RequestHandlerClass(conn, client_address, self)
        finally:
            conn.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.fake._handle(self)

    def do_POST(self):
        self.server.fake._handle(self)

    def do_PUT(self):
        self.server.fake._handle(self)

    def do_PATCH(self):
        self.server.fake._handle(self)


class FakeKube:
    """The server. `FakeKube(directory)` generates its CA and certificate in
    `directory` (for `sans`) and starts on 127.0.0.1:0; `.port`, `.ca_file`."""

    def __init__(self, directory, token="token-1", history=1000, bookmark_interval=None,
                 sans=("IP:127.0.0.1", "DNS:localhost")):
        self.dir = directory
        self.ca = make_ca(directory, "kube-ca")
        self.ca_file = self.ca[0]
        self.leaf = make_leaf(directory, "kube-apiserver", self.ca, list(sans))
        self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.tls.load_cert_chain(*self.leaf)
        self.cond = threading.Condition()
        self.tokens = {token}
        self.rv = 1
        self.objects = {plural: {} for plural in RESOURCES}
        self.history = collections.deque()
        self.history_limit = history
        self.floor = 0          # a resume from a version below this gets 410
        self.bookmark_interval = bookmark_interval
        # A too-old resume as an HTTP 410 answer instead of a 200 stream with
        # an ERROR event (older API servers; both must re-list).
        self.gone_as_http = False
        self.requests = []      # dicts: time, path, query, status, token, watch
        self.connections = []   # (time, ok, error) per TLS connection attempt
        self._watches = set()
        self._snapshots = {}
        self._lease_conflicts = 0
        self._events = []       # created Events, in order
        self.port = 0
        self._server = None
        self._thread = None
        self.start()

    # ------------------------------------------------------------------ lifecycle

    def start(self):
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.fake = self
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name="fake-kube")
        self._thread.start()

    def stop(self):
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server = None
        self._thread.join(5)
        self.drop_watches()

    def restart(self, keep_history=True, down_for=0.0):
        """Stops (cutting every live watch) and starts again on the same port.
        Without history, a resume from any earlier version gets 410 (the
        objects stay: they are etcd's, the history is the watch cache's)."""
        self.stop()
        if not keep_history:
            self.expire_history()
        time.sleep(down_for)
        self.start()

    def drop_watches(self):
        """Cuts every live watch mid-stream (no final chunk: the client sees a disconnect)."""
        with self.cond:
            watches = list(self._watches)
            for w in watches:
                w.dropped = True
            self.cond.notify_all()
        for w in watches:
            try:
                w.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------------------ controls

    def set_token(self, *tokens):
        """The bearer tokens accepted from now on (others get 401)."""
        with self.cond:
            self.tokens = set(tokens)

    def expire_history(self):
        """Forgets every past event: the next resume from an older version gets 410."""
        with self.cond:
            self.history.clear()
            self.floor = self.rv
            self._snapshots.clear()

    def bookmark_now(self):
        """Every live watch that allows bookmarks sends one at once."""
        with self.cond:
            for w in self._watches:
                w.bookmark = True
            self.cond.notify_all()

    def create(self, plural, name, namespace="default", spec=None, labels=None):
        api_version, kind, namespaced = RESOURCES[plural][1:]
        with self.cond:
            self.rv += 1
            meta = {"name": name, "uid": str(uuid.uuid4()), "resourceVersion": str(self.rv),
                    "creationTimestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
            if namespaced:
                meta["namespace"] = namespace
            if labels:
                meta["labels"] = dict(labels)
            obj = {"apiVersion": api_version, "kind": kind, "metadata": meta, "spec": spec or {}}
            self.objects[plural][(namespace if namespaced else "", name)] = obj
            self._record(plural, "ADDED", obj)
            return json.loads(json.dumps(obj))

    def update(self, plural, name, namespace="default", spec=None):
        with self.cond:
            obj = self.objects[plural][(namespace if RESOURCES[plural][3] else "", name)]
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            obj["spec"] = spec or {}
            self._record(plural, "MODIFIED", obj)
            return json.loads(json.dumps(obj))

    def delete(self, plural, name, namespace="default"):
        with self.cond:
            obj = self.objects[plural].pop((namespace if RESOURCES[plural][3] else "", name))
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._record(plural, "DELETED", obj)
            return obj

    def apply(self, plural, obj):
        """Creates or replaces a whole object (`metadata.name`, and `namespace`
        for a namespaced kind): EndpointSlices and Secrets keep their fields
        outside `spec`. Returns the stored copy."""
        api_version, kind, namespaced = RESOURCES[plural][1:]
        obj = json.loads(json.dumps(obj))
        meta = obj.setdefault("metadata", {})
        key = (meta.get("namespace", "default") if namespaced else "", meta["name"])
        if namespaced:
            meta.setdefault("namespace", "default")
        with self.cond:
            old = self.objects[plural].get(key)
            self.rv += 1
            obj["apiVersion"], obj["kind"] = api_version, kind
            meta["resourceVersion"] = str(self.rv)
            meta.setdefault("uid", old["metadata"]["uid"] if old else str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", old["metadata"]["creationTimestamp"] if old else
                            datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            self.objects[plural][key] = obj
            self._record(plural, "MODIFIED" if old else "ADDED", obj)
            return json.loads(json.dumps(obj))

    def events(self):
        """Every Event created through the API, oldest first (copies)."""
        with self.cond:
            return json.loads(json.dumps(self._events))

    def lease(self, namespace, name):
        """The stored Lease (a copy), or None."""
        with self.cond:
            obj = self.objects["leases"].get((namespace, name))
            return json.loads(json.dumps(obj)) if obj else None

    def get(self, plural, name, namespace="default"):
        """A stored object (a copy), or None."""
        with self.cond:
            obj = self.objects[plural].get((namespace if RESOURCES[plural][3] else "", name))
            return json.loads(json.dumps(obj)) if obj else None

    def inject_conflicts(self, n=1):
        """The next `n` lease PUTs get 409 Conflict, the stored Lease's
        resourceVersion bumped first as another writer's change would."""
        with self.cond:
            self._lease_conflicts = n

    def current_rv(self):
        with self.cond:
            return self.rv

    def request_log(self, watch=None, method=None):
        with self.cond:
            return [dict(r) for r in self.requests
                    if (watch is None or r["watch"] == watch) and (method is None or r["method"] == method)]

    def connection_log(self):
        with self.cond:
            return list(self.connections)

    def live_watches(self):
        with self.cond:
            return len(self._watches)

    def write_kubeconfig(self, path, token=None, token_file=None, ca_file=None, ca_data=True, namespace=None,
                         server=None):
        """A kubeconfig for this server (CA inline as base64 unless ca_data=False,
        then as the path `ca_file`, default ours). Returns `path`."""
        ca_file = ca_file or self.ca_file
        if ca_data:
            with open(ca_file, "rb") as f:
                ca_line = "certificate-authority-data: " + base64.b64encode(f.read()).decode()
        else:
            ca_line = "certificate-authority: " + ca_file
        user = []
        if token:
            user.append("    token: " + token)
        if token_file:
            user.append("    tokenFile: " + token_file)
        ns = f"\n    namespace: {namespace}" if namespace else ""
        text = f"""apiVersion: v1
kind: Config
current-context: test
clusters:
- name: fake
  cluster:
    server: {server or f"https://127.0.0.1:{self.port}"}
    {ca_line}
contexts:
- name: test
  context:
    cluster: fake
    user: tester{ns}
users:
- name: tester
  user:
{chr(10).join(user) if user else "    {}"}
"""
        with open(path, "w") as f:
            f.write(text)
        return path

    # ------------------------------------------------------------------ internals

    def _record(self, plural, type_, obj):
        # Under self.cond.
        self.history.append((self.rv, plural, obj["metadata"].get("namespace", ""), type_,
                             json.loads(json.dumps(obj))))
        while len(self.history) > self.history_limit:
            self.floor = self.history.popleft()[0]
        self.cond.notify_all()

    def _log_connection(self, ok, error):
        with self.cond:
            self.connections.append((time.monotonic(), ok, error))

    def _route(self, path):
        """(plural, namespace or "") for a collection path, or None."""
        for plural, (api, _, _, namespaced) in RESOURCES.items():
            if path == f"{api}/{plural}":
                return plural, ""
            prefix = f"{api}/namespaces/"
            if namespaced and path.startswith(prefix) and path.endswith("/" + plural):
                ns = path[len(prefix):-len(plural) - 1]
                if ns and "/" not in ns:
                    return plural, ns
        return None

    def _send_json(self, h, code, body):
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h):
        url = urlsplit(h.path)
        query = {k: v[-1] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        auth = h.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        watch = query.get("watch") in ("1", "true")
        method = h.command
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        entry = {"time": time.monotonic(), "method": method, "path": url.path, "query": query, "token": token,
                 "watch": watch, "content_type": h.headers.get("Content-Type", ""), "body": body}
        with self.cond:
            self.requests.append(entry)
            authorized = token in self.tokens
        if not authorized:
            entry["status"] = 401
            return self._send_json(h, 401, _status(401, "Unauthorized", "Unauthorized"))
        if method != "GET" or self._route(url.path) is None:
            return self._write(h, entry, method, url.path, body)
        route = self._route(url.path)
        if route is None:
            entry["status"] = 404
            return self._send_json(h, 404, _status(404, "NotFound", f"the server could not find {url.path}"))
        if watch:
            return self._watch(h, entry, *route, query)
        return self._list(h, entry, *route, query)

    def _route_item(self, path):
        """(plural, namespace, name, subresource) for a namespaced object path, or None."""
        for plural, (api, _, _, namespaced) in RESOURCES.items():
            prefix = f"{api}/namespaces/"
            if not namespaced or not path.startswith(prefix):
                continue
            parts = path[len(prefix):].split("/")
            if len(parts) in (3, 4) and parts[1] == plural and parts[0] and parts[2]:
                return plural, parts[0], parts[2], parts[3] if len(parts) == 4 else ""
        return None

    def _reply(self, h, entry, code, body):
        entry["status"] = code
        self._send_json(h, code, body)

    def _write(self, h, entry, method, path, body):
        """Every request but a GET of a collection: the writes and single-object GETs."""
        collection = self._route(path)
        item = self._route_item(path)
        if method == "POST" and collection and collection[0] in ("events", "leases") and collection[1]:
            return self._create(h, entry, collection[0], collection[1], body)
        if item and item[0] == "ingresses" and item[3] == "status" and method == "PATCH":
            return self._patch_status(h, entry, item[1], item[2], body)
        if item and item[3] == "" and method == "GET":
            with self.cond:
                obj = self.objects[item[0]].get((item[1], item[2]))
                obj = json.loads(json.dumps(obj)) if obj else None
            if obj is None:
                return self._reply(h, entry, 404, _status(404, "NotFound", f'{item[0]} "{item[2]}" not found'))
            return self._reply(h, entry, 200, obj)
        if item and item[0] == "leases" and item[3] == "" and method == "PUT":
            return self._put_lease(h, entry, item[1], item[2], body)
        if item or collection:
            return self._reply(h, entry, 405, _status(405, "MethodNotAllowed", f"{method} is not supported here"))
        return self._reply(h, entry, 404, _status(404, "NotFound", f"the server could not find {path}"))

    def _create(self, h, entry, plural, ns, body):
        api_version, kind = RESOURCES[plural][1:3]
        if not isinstance(body, dict):
            return self._reply(h, entry, 400, _status(400, "BadRequest", "the body is not a JSON object"))
        meta = body.setdefault("metadata", {})
        if meta.get("namespace", ns) != ns:
            return self._reply(h, entry, 400, _status(
                400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"))
        if not meta.get("name"):
            if not meta.get("generateName"):
                return self._reply(h, entry, 422, _status(422, "Invalid", "metadata.name: Required value"))
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        with self.cond:
            if (ns, meta["name"]) in self.objects[plural]:
                return self._reply(h, entry, 409, _status(
                    409, "AlreadyExists", f'{plural} "{meta["name"]}" already exists'))
            self.rv += 1
            body["apiVersion"], body["kind"] = api_version, kind
            meta.update(namespace=ns, uid=str(uuid.uuid4()), resourceVersion=str(self.rv),
                        creationTimestamp=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))
            self.objects[plural][(ns, meta["name"])] = body
            if plural == "events":
                self._events.append(json.loads(json.dumps(body)))
            self._record(plural, "ADDED", body)
            out = json.loads(json.dumps(body))
        self._reply(h, entry, 201, out)

    def _patch_status(self, h, entry, ns, name, body):
        if h.headers.get("Content-Type", "").split(";")[0].strip() != "application/merge-patch+json":
            return self._reply(h, entry, 415, _status(415, "UnsupportedMediaType", "the body of the request was in an unknown format"))
        if not isinstance(body, dict):
            return self._reply(h, entry, 400, _status(400, "BadRequest", "the patch is not a JSON object"))
        with self.cond:
            obj = self.objects["ingresses"].get((ns, name))
            if obj is None:
                return self._reply(h, entry, 404, _status(404, "NotFound", f'ingresses "{name}" not found'))
            # The status subresource changes only the status.
            if "status" in body:
                merged = merge_patch({"status": obj.get("status", {})}, {"status": body["status"]})
                obj["status"] = merged.get("status", {})
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._record("ingresses", "MODIFIED", obj)
            out = json.loads(json.dumps(obj))
        self._reply(h, entry, 200, out)

    def _put_lease(self, h, entry, ns, name, body):
        if not isinstance(body, dict) or body.get("metadata", {}).get("name", name) != name:
            return self._reply(h, entry, 400, _status(400, "BadRequest", "the body is not this Lease"))
        with self.cond:
            old = self.objects["leases"].get((ns, name))
            if old is None:
                return self._reply(h, entry, 404, _status(404, "NotFound", f'leases.coordination.k8s.io "{name}" not found'))
            if self._lease_conflicts > 0:
                self._lease_conflicts -= 1
                self.rv += 1
                old["metadata"]["resourceVersion"] = str(self.rv)
                self._record("leases", "MODIFIED", old)
                entry["injected"] = True
            rv = body.get("metadata", {}).get("resourceVersion", "")
            if not rv:
                return self._reply(h, entry, 422, _status(
                    422, "Invalid", "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"))
            if rv != old["metadata"]["resourceVersion"]:
                return self._reply(h, entry, 409, _status(
                    409, "Conflict", f'Operation cannot be fulfilled on leases.coordination.k8s.io "{name}": '
                    "the object has been modified; please apply your changes to the latest version and try again"))
            self.rv += 1
            body["apiVersion"], body["kind"] = "coordination.k8s.io/v1", "Lease"
            meta = body["metadata"]
            meta.update(namespace=ns, name=name, uid=old["metadata"]["uid"], resourceVersion=str(self.rv),
                        creationTimestamp=old["metadata"]["creationTimestamp"])
            self.objects["leases"][(ns, name)] = body
            self._record("leases", "MODIFIED", body)
            out = json.loads(json.dumps(body))
        self._reply(h, entry, 200, out)

    @staticmethod
    def _selected(obj, selector, fields=""):
        """Whether `obj` matches a labelSelector and a fieldSelector of `k=v`
        terms (all the fake knows; fields are dotted paths: metadata.name, type)."""
        labels = obj["metadata"].get("labels", {})
        if not all(labels.get(k) == v for k, _, v in (t.partition("=") for t in selector.split(",") if t)):
            return False
        for k, _, v in (t.partition("=") for t in fields.split(",") if t):
            value = obj
            for part in k.split("."):
                value = value.get(part, "") if isinstance(value, dict) else ""
            if value != v:
                return False
        return True

    def _matching(self, plural, ns, selector="", fields=""):
        return sorted((k, v) for k, v in self.objects[plural].items()
                      if (not ns or k[0] == ns) and self._selected(v, selector, fields))

    def _list(self, h, entry, plural, ns, query):
        api_version, kind = RESOURCES[plural][1:3]
        limit = int(query.get("limit") or 0)
        with self.cond:
            if query.get("continue"):
                snap_id, start = json.loads(base64.b64decode(query["continue"]))
                snap = self._snapshots.get(snap_id)
                if snap is None:
                    entry["status"] = 410
                    return self._send_json(h, 410, _status(410, "Expired", "the continue token has expired"))
            else:
                items = [json.loads(json.dumps(v))
                         for _, v in self._matching(plural, ns, query.get("labelSelector", ""),
                                                    query.get("fieldSelector", ""))]
                for item in items:  # the real server leaves these out of list items
                    item.pop("kind", None)
                    item.pop("apiVersion", None)
                snap_id, start, snap = str(uuid.uuid4()), 0, (self.rv, items)
                self._snapshots[snap_id] = snap
        rv, items = snap
        end = start + limit if limit else len(items)
        cont = base64.b64encode(json.dumps([snap_id, end]).encode()).decode() if end < len(items) else ""
        entry["status"] = 200
        self._send_json(h, 200, {"kind": kind + "List", "apiVersion": api_version,
                                 "metadata": {"resourceVersion": str(rv), "continue": cont},
                                 "items": items[start:end]})

    def _watch(self, h, entry, plural, ns, query):
        api_version, kind = RESOURCES[plural][1:3]
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        timeout = float(query.get("timeoutSeconds") or 1800)
        rv_text = query.get("resourceVersion", "")
        selector = query.get("labelSelector", "")
        fields = query.get("fieldSelector", "")
        with self.cond:
            too_old = rv_text not in ("", "0") and int(rv_text) < self.floor
        if too_old and self.gone_as_http:
            entry["status"], entry["gone"] = 410, True
            return self._send_json(h, 410, _status(410, "Expired", f"too old resource version: {rv_text}"))
        entry["status"] = 200
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        w = _Watch(h.connection)
        with self.cond:
            self._watches.add(w)
            if rv_text in ("", "0"):
                # No version: the current objects as ADDED, then changes.
                pending = [{"type": "ADDED", "object": v} for _, v in self._matching(plural, ns, selector, fields)]
                pos = self.rv
            elif int(rv_text) < self.floor:
                pending, pos = None, self.rv
            else:
                pending, pos = [], int(rv_text)
        try:
            if pending is None:
                entry["gone"] = True
                status = _status(410, "Expired", f"too old resource version: {rv_text} ({self.floor})")
                self._chunk(h, {"type": "ERROR", "object": status})
                h.wfile.write(b"0\r\n\r\n")
                return
            for ev in pending:
                self._chunk(h, ev)
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + (self.bookmark_interval or 1e9)
            while True:
                with self.cond:
                    while True:
                        now = time.monotonic()
                        events = [(r, t, o) for r, p, n, t, o in self.history
                                  if r > pos and p == plural and (not ns or n == ns)
                                  and self._selected(o, selector, fields)]
                        due = bookmarks and (w.bookmark or now >= next_bookmark)
                        if events or due or w.dropped or now >= deadline or self._client_left(w):
                            break
                        self.cond.wait(min(deadline, next_bookmark, now + 0.1) - now)
                    pos = self.rv
                    w.bookmark = False
                    dropped = w.dropped
                if dropped or self._client_left(w):
                    return
                for _, t, o in events:
                    self._chunk(h, {"type": t, "object": o})
                if due:
                    next_bookmark = time.monotonic() + (self.bookmark_interval or 1e9)
                    self._chunk(h, {"type": "BOOKMARK", "object": {
                        "kind": kind, "apiVersion": api_version,
                        "metadata": {"resourceVersion": str(pos),
                                     "annotations": {"k8s.io/initial-events-end": "false"}}}})
                if time.monotonic() >= deadline:
                    h.wfile.write(b"0\r\n\r\n")
                    return
        except OSError:
            pass  # the client went away (or drop_watches cut it)
        finally:
            with self.cond:
                self._watches.discard(w)
            h.close_connection = True

    @staticmethod
    def _client_left(w):
        # A watch client sends nothing after its request: anything readable is
        # its close (FIN or close_notify), as the real server notices at once.
        try:
            return bool(select.select([w.sock], [], [], 0)[0])
        except (OSError, ValueError):
            return True

    @staticmethod
    def _chunk(h, event):
        data = json.dumps(event).encode() + b"\n"
        h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
