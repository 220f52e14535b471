"""A real gRPC server and client (Debian's python3-grpcio), for gRPC through lb
end to end. Messages are raw bytes (generic handlers, no generated code).

  grpc_peer.py server NAME HEALTH_FILE   prints {"port": N}; serves test.Echo and
                                         grpc.health.v1.Health (status read from
                                         HEALTH_FILE: SERVING or NOT_SERVING)
  grpc_peer.py client HOST:PORT          runs every call kind, prints JSON results
"""

import json
import sys
from concurrent import futures

import grpc


def server(name, health_file):
    def unary(req, ctx):
        ctx.set_trailing_metadata((("x-trailer", "t-" + name),))
        return b"echo:" + req

    def server_stream(req, ctx):
        for i in range(int(req)):
            yield b"item%d" % i

    def client_stream(it, ctx):
        return b"+".join(it)

    def bidi(it, ctx):
        for m in it:
            yield m.upper()

    def fail(req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: " + req.decode())

    def health(req, ctx):
        with open(health_file) as f:
            state = f.read().strip()
        # HealthCheckResponse.status (field 1, varint): 1 SERVING, 2 NOT_SERVING.
        return b"\x08\x01" if state == "SERVING" else b"\x08\x02"

    handlers = {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "Fail": grpc.unary_unary_rpc_method_handler(fail),
    }
    s = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    s.add_generic_rpc_handlers((
        grpc.method_handlers_generic_handler("test.Echo", handlers),
        grpc.method_handlers_generic_handler(
            "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(health)}),
    ))
    port = s.add_insecure_port("127.0.0.1:0")
    s.start()
    print(json.dumps({"port": port}), flush=True)
    s.wait_for_termination()


def client(addr):
    out = {}
    with grpc.insecure_channel(addr) as ch:
        call = ch.unary_unary("/test.Echo/Unary")
        resp, c = call.with_call(b"hello", timeout=10)
        out["unary"] = resp.decode()
        out["unary_trailer"] = dict(c.trailing_metadata()).get("x-trailer")
        out["unary_many"] = [call(b"m%d" % i, timeout=10).decode() for i in range(50)]
        out["server_stream"] = [m.decode() for m in ch.unary_stream("/test.Echo/ServerStream")(b"5", timeout=10)]
        out["client_stream"] = ch.stream_unary("/test.Echo/ClientStream")(iter([b"a", b"b", b"c"]), timeout=10).decode()
        out["bidi"] = [m.decode() for m in ch.stream_stream("/test.Echo/Bidi")(iter([b"x", b"y"]), timeout=10)]
        big = bytes(range(256)) * 4096  # 1 MiB each way
        out["big_ok"] = call(big, timeout=30) == b"echo:" + big
        try:
            ch.unary_unary("/test.Echo/Fail")(b"thing", timeout=10)
            out["fail"] = None
        except grpc.RpcError as e:
            out["fail"] = [e.code().name, e.details()]
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        server(sys.argv[2], sys.argv[3])
    else:
        client(sys.argv[2])
