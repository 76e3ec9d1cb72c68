#!/usr/bin/python3
"""grpcio RouteGuide *test* server (docs/testing.md): the tutorial's
semantics plus the x-delay-ms / x-echo-initial / x-echo-trailing-bin /
x-query / x-fail hooks. Prints `LISTENING <port>` once it serves; exits 0
after a graceful stop on SIGTERM or SIGINT.

  /usr/bin/python3 rg_server.py [--port N] [--db FILE] [--gen-dir DIR]
      [--use_tls=true --tls_cert_file=F --tls_key_file=F
       [--tls_client_ca_file=F [--require_client_cert=true]]]

TLS through grpc.ssl_server_credentials; `x-query: peer` (GetFeature) puts
the client certificate's CN (auth context x509_common_name) in the trailer
x-peer-identity. Flags take --flag=value or --flag value.
"""

import argparse
import concurrent.futures
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rg_common  # noqa: E402

import grpc  # noqa: E402

FAIL_MESSAGE = "failed on purpose"
POLL_S = 0.010


def status_from_int(n):
    for code in grpc.StatusCode:
        if code.value[0] == n:
            return code
    return grpc.StatusCode.UNKNOWN


class Hooks:
    """The request metadata hooks of one call."""

    def __init__(self, context):
        md = {}
        for key, value in context.invocation_metadata():
            md.setdefault(key, value)
        self.md = md
        self.context = context

    def get(self, key):
        return self.md.get(key)

    def begin(self, extra_trailers=()):
        """Sends x-echo-initial back as initial metadata and sets the
        trailers: x-echo-trailing-bin and extra_trailers."""
        ctx = self.context
        echo = self.get("x-echo-initial")
        if echo is not None:
            ctx.send_initial_metadata((("x-echo-initial", echo),))
        trailers = list(extra_trailers)
        echo_bin = self.get("x-echo-trailing-bin")
        if echo_bin is not None:
            trailers.append(("x-echo-trailing-bin", echo_bin))
        if trailers:
            ctx.set_trailing_metadata(tuple(trailers))

    def delay(self, server):
        """Waits x-delay-ms, polling for cancellation. False if cancelled
        (the server's counter is then incremented)."""
        raw = self.get("x-delay-ms")
        if raw is None:
            return True
        try:
            ms = int(raw)
        except ValueError:
            ms = 0
        end = time.monotonic() + ms / 1000.0
        while True:
            if not self.context.is_active():
                server.count_cancel()
                return False
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(POLL_S, left))

    def fail(self):
        """Applies x-fail: CODE. True when the call must end with it."""
        raw = self.get("x-fail")
        if raw is None:
            return False
        try:
            code = status_from_int(int(raw))
        except ValueError:
            code = grpc.StatusCode.UNKNOWN
        self.context.set_code(code)
        self.context.set_details(FAIL_MESSAGE)
        return True


class RouteGuideTestServicer:
    def __init__(self, pb2, db):
        self.pb2 = pb2
        self.db = db
        self.cancels = 0
        self.lock = threading.Lock()

    def count_cancel(self):
        with self.lock:
            self.cancels += 1

    def cancel_count(self):
        with self.lock:
            return self.cancels

    def _feature_at(self, point):
        f = rg_common.find(self.db, point.latitude, point.longitude)
        name = f[2] if f is not None else ""
        return self.pb2.Feature(
            name=name,
            location=self.pb2.Point(latitude=point.latitude,
                                    longitude=point.longitude))

    def GetFeature(self, request, context):
        hooks = Hooks(context)
        extra = ()
        if hooks.get("x-query") == "cancels":
            extra = (("x-cancel-count", str(self.cancel_count())),)
        elif hooks.get("x-query") == "peer":
            names = (context.auth_context() or {}).get("x509_common_name")
            if names:
                extra = (("x-peer-identity",
                          names[0].decode("utf-8", "replace")),)
        hooks.begin(extra)
        if not hooks.delay(self):
            return self.pb2.Feature()
        if hooks.fail():
            return self.pb2.Feature()
        return self._feature_at(request)

    def ListFeatures(self, request, context):
        hooks = Hooks(context)
        hooks.begin()
        if not hooks.delay(self):
            return
        if hooks.fail():
            return
        lo, hi = request.lo, request.hi
        for lat, lon, name in self.db:
            if rg_common.in_rect(lo.latitude, lo.longitude, hi.latitude,
                                 hi.longitude, lat, lon):
                yield self.pb2.Feature(
                    name=name,
                    location=self.pb2.Point(latitude=lat, longitude=lon))

    def RecordRoute(self, request_iterator, context):
        hooks = Hooks(context)
        hooks.begin()
        if not hooks.delay(self):
            return self.pb2.RouteSummary()
        if hooks.fail():
            return self.pb2.RouteSummary()
        start = time.monotonic()
        points = features = 0
        distance = 0.0
        prev = None
        for point in request_iterator:
            points += 1
            f = rg_common.find(self.db, point.latitude, point.longitude)
            if f is not None and f[2]:  # named features, as the C++ example
                features += 1
            if prev is not None:
                distance += rg_common.distance_m(prev.latitude,
                                                 prev.longitude,
                                                 point.latitude,
                                                 point.longitude)
            prev = point
        return self.pb2.RouteSummary(point_count=points,
                                     feature_count=features,
                                     distance=int(distance),
                                     elapsed_time=int(time.monotonic() -
                                                      start))

    def RouteChat(self, request_iterator, context):
        hooks = Hooks(context)
        hooks.begin()
        if not hooks.delay(self):
            return
        if hooks.fail():
            return
        seen = []
        for note in request_iterator:
            loc = (note.location.latitude, note.location.longitude)
            for prev_loc, prev in seen:
                if prev_loc == loc:
                    yield prev
            seen.append((loc, note))


def parse_bool(text):
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise argparse.ArgumentTypeError("%r: true or false" % text)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--use_tls", type=parse_bool, nargs="?", const=True,
                    default=False, help="serve TLS (default false)")
    ap.add_argument("--tls_cert_file", help="certificate chain (PEM)")
    ap.add_argument("--tls_key_file", help="private key (PEM)")
    ap.add_argument("--tls_client_ca_file",
                    help="CAs client certificates must chain to")
    ap.add_argument("--require_client_cert", type=parse_bool, nargs="?",
                    const=True, default=False, help="mutual TLS")
    ap.add_argument("--db", default=None)
    ap.add_argument("--gen-dir", default=None,
                    help="where route_guide_pb2*.py are (generated if not)")
    ap.add_argument("--proto-dir", default=None)
    ap.add_argument("--workers", type=int, default=32)
    args = ap.parse_args()
    if args.use_tls and not (args.tls_cert_file and args.tls_key_file):
        ap.error("--use_tls needs --tls_cert_file and --tls_key_file")
    if not args.use_tls and (args.tls_cert_file or args.tls_key_file or
                             args.tls_client_ca_file or
                             args.require_client_cert):
        ap.error("TLS flags without --use_tls=true")
    if args.require_client_cert and not args.tls_client_ca_file:
        ap.error("--require_client_cert needs --tls_client_ca_file")

    pb2, pb2_grpc = rg_common.load_stubs(args.gen_dir, args.proto_dir)
    db = rg_common.load_db(args.db)

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=args.workers))
    pb2_grpc.add_RouteGuideServicer_to_server(
        RouteGuideTestServicer(pb2, db), server)
    addr = "127.0.0.1:%d" % args.port
    if args.use_tls:
        creds = grpc.ssl_server_credentials(
            [(read_file(args.tls_key_file), read_file(args.tls_cert_file))],
            root_certificates=(read_file(args.tls_client_ca_file)
                               if args.tls_client_ca_file else None),
            require_client_auth=args.require_client_cert)
        port = server.add_secure_port(addr, creds)
        sys.stderr.write("rg_server.py: TLS%s\n" %
                         (", client certificate required"
                          if args.require_client_cert else ""))
    else:
        port = server.add_insecure_port(addr)
    if port == 0:
        sys.stderr.write("rg_server.py: cannot bind 127.0.0.1:%d\n" %
                         args.port)
        return 1
    server.start()
    sys.stdout.write("LISTENING %d\n" % port)
    sys.stdout.flush()

    while not stop.wait(0.5):
        pass
    # In-flight calls get 2 s; stop() returns an event set when done.
    server.stop(2.0).wait(10.0)
    sys.stdout.write("rg_server.py: stopped\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
