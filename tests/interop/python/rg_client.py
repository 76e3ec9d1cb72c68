#!/usr/bin/python3
"""grpcio RouteGuide interop client: runs the cases of docs/testing.md
against a RouteGuide test server (tern's rg_test_server, or any other).
One `PASS name` / `FAIL name: why` line per case, then `N passed, N
failed`; exit status 0 only when all passed.

  /usr/bin/python3 rg_client.py --target 127.0.0.1:PORT [--case NAME]...
      [--use_tls=true [--ca_file=F] [--server_host_override=NAME]
       [--client_cert_file=F --client_key_file=F]]
      [--expect_peer_identity=CN]

TLS through grpc.ssl_channel_credentials, the override through the channel
option grpc.ssl_target_name_override. Flags take --flag=value or --flag
value. Cases only run when named: handshake_refused; peer_identity also
runs by default when --expect_peer_identity is given ("" = no client
certificate seen).
"""

import argparse
import os
import queue
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rg_common  # noqa: E402
from rg_common import check  # noqa: E402

import grpc  # noqa: E402

TIMEOUT = 10.0  # seconds: the deadline of every ordinary RPC
KNOWN = (409146138, -746188906)  # "Berkshire Valley Management Area..."
UNKNOWN = (1, 2)
RECT = ((400000000, -750000000), (420000000, -730000000))
TRAILING_BIN = b"\x00\x01tern\xff\xfe\x80 \xc3\xa9\n"
ECHO_INITIAL = "hello-from-grpcio"


class Cases:
    def __init__(self, target, db, pb2, pb2_grpc, threads, creds=None,
                 options=(), expect_peer=None):
        self.target = target
        self.db = db
        self.pb2 = pb2
        self.pb2_grpc = pb2_grpc
        self.threads = threads
        self.creds = creds
        self.options = list(options)
        self.expect_peer = expect_peer
        self.channel = self.new_channel()
        self.stub = pb2_grpc.RouteGuideStub(self.channel)

    def new_channel(self):
        """A channel to the target, over TLS when --use_tls was given."""
        if self.creds is None:
            return grpc.insecure_channel(self.target, options=self.options)
        return grpc.secure_channel(self.target, self.creds,
                                   options=self.options)

    def close(self):
        self.channel.close()

    # --- helpers ---------------------------------------------------

    def point(self, lat, lon):
        return self.pb2.Point(latitude=lat, longitude=lon)

    def rect(self, lo, hi):
        return self.pb2.Rectangle(lo=self.point(*lo), hi=self.point(*hi))

    def expected_in_rect(self, lo, hi):
        return sorted((lat, lon, name) for lat, lon, name in self.db
                      if rg_common.in_rect(lo[0], lo[1], hi[0], hi[1],
                                           lat, lon))

    def cancel_count(self):
        _, call = self.stub.GetFeature.with_call(
            self.point(*UNKNOWN), timeout=TIMEOUT,
            metadata=(("x-query", "cancels"),))
        for key, value in call.trailing_metadata() or ():
            if key == "x-cancel-count":
                return int(value)
        raise rg_common.CheckFailed("no x-cancel-count trailer in %r" %
                                    (call.trailing_metadata(),))

    def settled_cancel_count(self):
        """The counter once calls of earlier cases stop moving it."""
        last = self.cancel_count()
        for _ in range(30):
            time.sleep(0.1)
            now = self.cancel_count()
            if now == last:
                return now
            last = now
        return last

    def wait_cancel_count_above(self, base, seconds=5.0):
        end = time.monotonic() + seconds
        now = self.cancel_count()
        while now <= base and time.monotonic() < end:
            time.sleep(0.05)
            now = self.cancel_count()
        check(now > base, "server's cancel counter stayed at %d (before: %d)"
              % (now, base))

    def route_points(self, n):
        # Named features only: implementations differ on whether an unnamed
        # database entry counts as a feature passed (grpc's Python example
        # counts it, its C++ one does not).
        named = [(lat, lon) for lat, lon, name in self.db if name]
        return [self.point(*p) for p in named[:n]]

    def expected_summary(self, pts):
        dist = 0.0
        for a, b in zip(pts, pts[1:]):
            dist += rg_common.distance_m(a.latitude, a.longitude,
                                         b.latitude, b.longitude)
        feats = 0
        for p in pts:
            f = rg_common.find(self.db, p.latitude, p.longitude)
            feats += 1 if f is not None and f[2] else 0
        return len(pts), feats, int(dist)

    def check_summary(self, got, pts):
        n, feats, dist = self.expected_summary(pts)
        check(got.point_count == n, "point_count %d, want %d" %
              (got.point_count, n))
        check(got.feature_count == feats, "feature_count %d, want %d" %
              (got.feature_count, feats))
        # Implementations may differ in the last metre of float rounding.
        check(abs(got.distance - dist) <= max(2, dist // 1000),
              "distance %d, want %d" % (got.distance, dist))
        check(0 <= got.elapsed_time < 60, "elapsed_time %d" %
              got.elapsed_time)

    def expect_code(self, fn, code, what):
        try:
            fn()
        except grpc.RpcError as e:
            check(e.code() == code, "%s: got %s (%r), want %s" %
                  (what, e.code(), e.details(), code))
            return e
        raise rg_common.CheckFailed("%s: succeeded, want %s" % (what, code))

    # --- cases -----------------------------------------------------

    def get_feature_known(self):
        f = self.stub.GetFeature(self.point(*KNOWN), timeout=TIMEOUT)
        want = rg_common.find(self.db, *KNOWN)
        check(f.name == want[2], "name %r, want %r" % (f.name, want[2]))
        check((f.location.latitude, f.location.longitude) == KNOWN,
              "location %r" % (f.location,))

    def get_feature_unknown(self):
        f = self.stub.GetFeature(self.point(*UNKNOWN), timeout=TIMEOUT)
        check(f.name == "", "name %r, want empty" % f.name)
        check((f.location.latitude, f.location.longitude) == UNKNOWN,
              "location %r, want the request's" % (f.location,))

    def get_feature_future(self):
        fut = self.stub.GetFeature.future(self.point(*KNOWN), timeout=TIMEOUT)
        f = fut.result(timeout=TIMEOUT + 5)
        check(f.name == rg_common.find(self.db, *KNOWN)[2],
              "name %r" % f.name)

    def _list(self, lo, hi):
        got = sorted((f.location.latitude, f.location.longitude, f.name)
                     for f in self.stub.ListFeatures(self.rect(lo, hi),
                                                     timeout=TIMEOUT))
        want = self.expected_in_rect(lo, hi)
        check(len(want) > 0, "test data: rectangle holds no feature")
        check(got == want, "%d features, want %d%s" %
              (len(got), len(want),
               "" if len(got) != len(want) else " (contents differ)"))

    def list_features(self):
        self._list(*RECT)

    def list_features_reversed(self):
        lo, hi = RECT
        self._list(hi, lo)

    def list_features_empty_rect(self):
        got = list(self.stub.ListFeatures(self.rect((1, 1), (2, 2)),
                                          timeout=TIMEOUT))
        check(got == [], "%d features, want 0" % len(got))

    def record_route(self):
        pts = self.route_points(10)
        s = self.stub.RecordRoute(iter(pts), timeout=TIMEOUT)
        self.check_summary(s, pts)

    def record_route_future(self):
        pts = self.route_points(5) + [self.point(*UNKNOWN)]
        fut = self.stub.RecordRoute.future(iter(pts), timeout=TIMEOUT)
        self.check_summary(fut.result(timeout=TIMEOUT + 5), pts)

    def record_route_empty(self):
        s = self.stub.RecordRoute(iter(()), timeout=TIMEOUT)
        check((s.point_count, s.feature_count, s.distance) == (0, 0, 0),
              "summary %r, want zeros" % (s,))

    def route_chat(self):
        """Each note's replies (earlier notes at its location) must arrive
        before the next note is sent, so before the client half-closes."""
        locs = [(0, 0), (0, 1), (0, 0), (1, 0), (0, 0), (0, 1), (1, 0)]
        notes = [self.pb2.RouteNote(location=self.point(*loc),
                                    message="note %d" % i)
                 for i, loc in enumerate(locs)]
        outbox = queue.Queue()

        def requests():
            while True:
                item = outbox.get(timeout=TIMEOUT + 5)
                if item is None:
                    return
                yield item

        replies = self.stub.RouteChat(requests(), timeout=TIMEOUT)
        try:
            for i, note in enumerate(notes):
                outbox.put(note)
                want = [n.message for n in notes[:i]
                        if n.location == note.location]
                for w in want:
                    got = next(replies)
                    check(got.message == w and got.location == note.location,
                          "after note %d: reply %r, want %r" %
                          (i, got.message, w))
            outbox.put(None)
            rest = [r.message for r in replies]
            check(rest == [], "extra replies after half-close: %r" % rest)
        finally:
            outbox.put(None)
            replies.cancel()

    def deadline_exceeded(self):
        t0 = time.monotonic()
        self.expect_code(
            lambda: self.stub.GetFeature(self.point(*KNOWN), timeout=0.3,
                                         metadata=(("x-delay-ms", "3000"),)),
            grpc.StatusCode.DEADLINE_EXCEEDED, "GetFeature with 300 ms")
        took = time.monotonic() - t0
        check(took < 2.5, "took %.2f s to time out" % took)

    def deadline_exceeded_stream(self):
        def run():
            list(self.stub.ListFeatures(self.rect(*RECT), timeout=0.3,
                                        metadata=(("x-delay-ms", "3000"),)))
        self.expect_code(run, grpc.StatusCode.DEADLINE_EXCEEDED,
                         "ListFeatures with 300 ms")

    def cancel_seen_by_server(self):
        base = self.settled_cancel_count()
        fut = self.stub.GetFeature.future(
            self.point(*KNOWN), timeout=TIMEOUT,
            metadata=(("x-delay-ms", "8000"),))
        time.sleep(0.3)
        check(fut.cancel(), "future.cancel() returned False")
        check(fut.cancelled(), "future not cancelled")
        self.wait_cancel_count_above(base)

    def cancel_stream_seen_by_server(self):
        base = self.settled_cancel_count()
        call = self.stub.ListFeatures(self.rect(*RECT), timeout=TIMEOUT,
                                      metadata=(("x-delay-ms", "8000"),))
        time.sleep(0.3)
        call.cancel()
        e = self.expect_code(lambda: next(call), grpc.StatusCode.CANCELLED,
                             "reading a cancelled ListFeatures")
        del e
        self.wait_cancel_count_above(base)

    def metadata_echo(self):
        md = (("x-echo-initial", ECHO_INITIAL),
              ("x-echo-trailing-bin", TRAILING_BIN))
        _, call = self.stub.GetFeature.with_call(self.point(*KNOWN),
                                                 timeout=TIMEOUT, metadata=md)
        init = dict(call.initial_metadata() or ())
        trail = dict(call.trailing_metadata() or ())
        check(init.get("x-echo-initial") == ECHO_INITIAL,
              "initial metadata %r" % (call.initial_metadata(),))
        check(trail.get("x-echo-trailing-bin") == TRAILING_BIN,
              "trailing metadata %r" % (call.trailing_metadata(),))

    def metadata_echo_stream(self):
        md = (("x-echo-initial", ECHO_INITIAL),
              ("x-echo-trailing-bin", TRAILING_BIN))
        call = self.stub.ListFeatures(self.rect(*RECT), timeout=TIMEOUT,
                                      metadata=md)
        n = sum(1 for _ in call)
        check(n > 0, "no features")
        init = dict(call.initial_metadata() or ())
        trail = dict(call.trailing_metadata() or ())
        check(init.get("x-echo-initial") == ECHO_INITIAL,
              "initial metadata %r" % (call.initial_metadata(),))
        check(trail.get("x-echo-trailing-bin") == TRAILING_BIN,
              "trailing metadata %r" % (call.trailing_metadata(),))

    def fail_status(self):
        e = self.expect_code(
            lambda: self.stub.GetFeature(self.point(*KNOWN), timeout=TIMEOUT,
                                         metadata=(("x-fail", "9"),)),
            grpc.StatusCode.FAILED_PRECONDITION, "x-fail: 9")
        check(e.details() == "failed on purpose", "message %r" % e.details())

    def fail_status_stream(self):
        def run():
            list(self.stub.RouteChat(iter(()), timeout=TIMEOUT,
                                     metadata=(("x-fail", "7"),)))
        e = self.expect_code(run, grpc.StatusCode.PERMISSION_DENIED,
                             "x-fail: 7 on RouteChat")
        check(e.details() == "failed on purpose", "message %r" % e.details())

    def _raw(self, path, body):
        call = self.channel.unary_unary(path)  # bytes in, bytes out
        return call(body, timeout=TIMEOUT)

    def unknown_method(self):
        self.expect_code(
            lambda: self._raw("/routeguide.RouteGuide/NoSuchMethod", b""),
            grpc.StatusCode.UNIMPLEMENTED, "unknown method")

    def unknown_service(self):
        self.expect_code(lambda: self._raw("/no.such.Service/GetFeature",
                                           b""),
                         grpc.StatusCode.UNIMPLEMENTED, "unknown service")

    def garbage_request(self):
        # A field-1 varint cut short, then a tag with wire type 7: neither
        # parses as a Point.
        for body in (b"\x08", b"\x0f\x01\x02", b"\x0a\x05\x01"):
            self.expect_code(
                lambda: self._raw("/routeguide.RouteGuide/GetFeature", body),
                grpc.StatusCode.INTERNAL, "GetFeature with %r" % body)
        raw = self._raw("/routeguide.RouteGuide/GetFeature",
                        self.point(*KNOWN).SerializeToString())
        f = self.pb2.Feature.FromString(raw)
        check(f.name == rg_common.find(self.db, *KNOWN)[2],
              "server answers wrongly after garbage: %r" % f.name)

    def concurrent_threads(self):
        n = self.threads
        errors = []
        lock = threading.Lock()
        barrier = threading.Barrier(n, timeout=TIMEOUT)

        def worker(i):
            own = None
            try:
                stub = self.stub
                if i % 2:
                    own = self.new_channel()
                    stub = self.pb2_grpc.RouteGuideStub(own)
                barrier.wait()
                f = stub.GetFeature(self.point(*KNOWN), timeout=TIMEOUT)
                check(f.name == rg_common.find(self.db, *KNOWN)[2],
                      "GetFeature name %r" % f.name)
                got = sum(1 for _ in stub.ListFeatures(self.rect(*RECT),
                                                       timeout=TIMEOUT))
                want = len(self.expected_in_rect(*RECT))
                check(got == want, "ListFeatures %d, want %d" % (got, want))
                pts = self.route_points(3 + i % 5)
                self.check_summary(stub.RecordRoute(iter(pts),
                                                    timeout=TIMEOUT), pts)
                notes = [self.pb2.RouteNote(location=self.point(i, 0),
                                            message="m%d" % k)
                         for k in range(3)]
                got = [r.message for r in stub.RouteChat(iter(notes),
                                                         timeout=TIMEOUT)]
                check(got == ["m0", "m0", "m1"], "RouteChat %r" % got)
            except Exception as e:  # reported below, by thread
                with lock:
                    errors.append("thread %d: %s" % (i, e))
            finally:
                if own is not None:
                    own.close()

        threads = [threading.Thread(target=worker, args=(i,), daemon=True)
                   for i in range(n)]
        for t in threads:
            t.start()
        end = time.monotonic() + 4 * TIMEOUT + 10
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        stuck = sum(1 for t in threads if t.is_alive())
        check(stuck == 0, "%d threads still running" % stuck)
        check(not errors, "; ".join(errors[:3]) +
              (" (+%d more)" % (len(errors) - 3) if len(errors) > 3 else ""))

    def health_final(self):
        self.get_feature_known()

    def peer_identity(self):
        """x-query: peer: the server reports the client certificate's CN
        in the x-peer-identity trailer (none without one)."""
        f, call = self.stub.GetFeature.with_call(
            self.point(*KNOWN), timeout=TIMEOUT,
            metadata=(("x-query", "peer"),))
        check(f.name == rg_common.find(self.db, *KNOWN)[2],
              "name %r" % f.name)
        seen = dict(call.trailing_metadata() or ()).get("x-peer-identity")
        want = self.expect_peer or None
        check(seen == want, "server saw peer %r, want %r" % (seen, want))
        rg_common.say("  peer_identity: server saw %s" %
                      (repr(seen) if seen else "no client certificate"))

    def handshake_refused(self):
        """The handshake must fail (wrong CA, expired certificate, wrong
        host name, no client certificate under mutual TLS): UNAVAILABLE,
        promptly, without reaching a handler."""
        t0 = time.monotonic()
        e = self.expect_code(
            lambda: self.stub.GetFeature(self.point(*KNOWN), timeout=5.0),
            grpc.StatusCode.UNAVAILABLE, "GetFeature")
        took = time.monotonic() - t0
        check(took < 4.0, "took %.2f s to fail" % took)
        rg_common.say("  handshake_refused: %s %r" % (e.code().name,
                                                      e.details()))


CASES = [
    "get_feature_known", "get_feature_unknown", "get_feature_future",
    "list_features", "list_features_reversed", "list_features_empty_rect",
    "record_route", "record_route_future", "record_route_empty",
    "route_chat", "deadline_exceeded", "deadline_exceeded_stream",
    "cancel_seen_by_server", "cancel_stream_seen_by_server",
    "metadata_echo", "metadata_echo_stream", "fail_status",
    "fail_status_stream", "unknown_method", "unknown_service",
    "garbage_request", "concurrent_threads", "health_final",
]
# Run only when named (peer_identity also by --expect_peer_identity).
EXTRA_CASES = ["peer_identity", "handshake_refused"]


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
    ap.add_argument("--target", required=True)
    ap.add_argument("--case", action="append", default=[],
                    help="run only this case (repeatable); default all")
    ap.add_argument("--db", default=None)
    ap.add_argument("--gen-dir", default=None)
    ap.add_argument("--proto-dir", default=None)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--list", action="store_true", help="print case names")
    ap.add_argument("--use_tls", type=parse_bool, nargs="?", const=True,
                    default=False, help="TLS (default false)")
    ap.add_argument("--ca_file", help="CAs the server must chain to "
                    "(default: grpc's roots)")
    ap.add_argument("--server_host_override",
                    help="name the server certificate must carry")
    ap.add_argument("--client_cert_file", help="mutual TLS: our chain")
    ap.add_argument("--client_key_file", help="mutual TLS: our key")
    ap.add_argument("--expect_peer_identity", default=None,
                    help="peer_identity: CN the server must see")
    args = ap.parse_args()
    if args.list:
        print("\n".join(CASES + EXTRA_CASES))
        return 0
    for name in args.case:
        if name not in CASES + EXTRA_CASES:
            print("unknown case %r; --list shows them" % name)
            return 2
    if not args.use_tls and (args.ca_file or args.server_host_override or
                             args.client_cert_file or args.client_key_file):
        ap.error("TLS flags without --use_tls=true")
    if bool(args.client_cert_file) != bool(args.client_key_file):
        ap.error("--client_cert_file and --client_key_file go together")
    creds = None
    options = []
    if args.use_tls:
        creds = grpc.ssl_channel_credentials(
            root_certificates=(read_file(args.ca_file)
                               if args.ca_file else None),
            private_key=(read_file(args.client_key_file)
                         if args.client_key_file else None),
            certificate_chain=(read_file(args.client_cert_file)
                               if args.client_cert_file else None))
        if args.server_host_override:
            options.append(("grpc.ssl_target_name_override",
                            args.server_host_override))
    names = list(args.case)
    if not names:
        names = list(CASES)
        if args.expect_peer_identity is not None:
            names.insert(-1, "peer_identity")
    elif "peer_identity" in names and args.expect_peer_identity is None:
        print("peer_identity needs --expect_peer_identity")
        return 2

    pb2, pb2_grpc = rg_common.load_stubs(args.gen_dir, args.proto_dir)
    db = rg_common.load_db(args.db)
    cases = Cases(args.target, db, pb2, pb2_grpc, args.threads, creds,
                  options, args.expect_peer_identity)
    runner = rg_common.Runner()
    rg_common.say("rg_client.py: grpcio %s against %s%s" %
                  (grpc.__version__, args.target,
                   "" if not args.use_tls else
                   " (mutual TLS)" if args.client_cert_file else " (TLS)"))
    try:
        for name in names:
            runner.run(name, getattr(cases, name))
    finally:
        cases.close()
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
