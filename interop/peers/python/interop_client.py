#!/usr/bin/python3
"""grpcio client for grpc's official interop cases
(doc/interop-test-descriptions.md), against any grpc.testing.TestService
server on 127.0.0.1.

  /usr/bin/python3 interop_client.py --server_host=127.0.0.1 --server_port=N
      [--test_case=all|NAME[,NAME...]] [--skip=NAME[,NAME...]]
      [--skip_reason=TEXT] [--server_host_override=HOST] [--use_tls=false]
      [--rpc_timeout_s=S] [--gen_dir=DIR] [--list]

One line per case: `PASS name`, `FAIL name: why` or `SKIP name: why`, then
`N passed, N failed, N skipped`. Exit status 0 only when nothing failed and
something passed; 2 for bad flags.

Cases grpcio cannot check in full run what grpcio can and print SKIP with
the reason when that part passed (FAIL when it did not):
  server_compressed_unary, server_compressed_streaming: grpcio hides the
    compressed flag of received messages (and the grpc-encoding header);
  client_compressed_streaming: grpcio has no per-message compression
    control on the client (the case sends a gzip message, then an
    uncompressed one, in one call).
"""

import argparse
import os
import queue
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_common as common  # noqa: E402

import grpc  # noqa: E402

CASES = (
    "empty_unary", "large_unary", "client_streaming", "server_streaming",
    "ping_pong", "empty_stream", "timeout_on_sleeping_server",
    "cancel_after_begin", "cancel_after_first_response",
    "status_code_and_message", "special_status_message", "custom_metadata",
    "unimplemented_method", "unimplemented_service",
    "client_compressed_unary", "server_compressed_unary",
    "client_compressed_streaming", "server_compressed_streaming",
)

ECHO_INITIAL_VALUE = "test_initial_metadata_value"
ECHO_TRAILING_VALUE = b"\xab\xab\xab"
STATUS_MESSAGE = "test status message"
SPECIAL_STATUS_MESSAGE = \
    "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP " \
    "\U0001f608\t\n"


class CheckFailed(Exception):
    pass


class Skipped(Exception):
    pass


def check(cond, why):
    if not cond:
        raise CheckFailed(why)


def describe(err):
    """One line for an RpcError."""
    try:
        return "%s: %r" % (err.code().name, err.details())
    except Exception:  # not a call-shaped error
        return repr(err)


_END = object()


class Feeder:
    """A request iterator the case feeds one message at a time: put()
    sends, close() half-closes. Each wait for the next message is bounded
    (then the stream half-closes by itself)."""

    def __init__(self, limit_s):
        self.q = queue.Queue()
        self.end = time.monotonic() + limit_s

    def put(self, message):
        self.q.put(message)

    def close(self):
        self.q.put(_END)

    def __iter__(self):
        return self

    def __next__(self):
        left = self.end - time.monotonic()
        if left <= 0:
            raise StopIteration
        try:
            item = self.q.get(timeout=left)
        except queue.Empty:
            raise StopIteration
        if item is _END:
            raise StopIteration
        return item


class Client:

    def __init__(self, channel, stubs, timeout_s):
        self.empty_pb2, self.pb, test_pb2_grpc = stubs
        self.stub = test_pb2_grpc.TestServiceStub(channel)
        self.unimplemented = test_pb2_grpc.UnimplementedServiceStub(channel)
        self.t = timeout_s

    # -- helpers -------------------------------------------------------

    def payload(self, size):
        return self.pb.Payload(type=self.pb.COMPRESSABLE,
                               body=b"\x00" * size)

    def check_payload(self, payload, size, what):
        check(len(payload.body) == size,
              "%s: payload body is %d bytes, want %d" %
              (what, len(payload.body), size))
        check(payload.body.count(0) == size,
              "%s: payload body is not all zeros" % what)

    def simple(self, response_size=314159, request_size=271828, **kw):
        return self.pb.SimpleRequest(response_type=self.pb.COMPRESSABLE,
                                     response_size=response_size,
                                     payload=self.payload(request_size),
                                     **kw)

    def output_request(self, sizes, request_size=None, compressed=None,
                       **kw):
        params = []
        for i, size in enumerate(sizes):
            p = self.pb.ResponseParameters(size=size)
            if compressed is not None:
                p.compressed.value = compressed[i]
            params.append(p)
        req = self.pb.StreamingOutputCallRequest(
            response_type=self.pb.COMPRESSABLE, response_parameters=params,
            **kw)
        if request_size is not None:
            req.payload.CopyFrom(self.payload(request_size))
        return req

    def expect_error(self, fn, code, details=None, what="call"):
        try:
            fn()
        except grpc.RpcError as e:
            check(e.code() == code, "%s: status %s, want %s" %
                  (what, describe(e), code.name))
            if details is not None:
                check(e.details() == details,
                      "%s: status message %r, want %r" %
                      (what, e.details(), details))
            return e
        raise CheckFailed("%s: succeeded, want %s" % (what, code.name))

    # -- cases ---------------------------------------------------------

    def empty_unary(self):
        resp = self.stub.EmptyCall(self.empty_pb2.Empty(), timeout=self.t)
        check(isinstance(resp, self.empty_pb2.Empty),
              "response is not a grpc.testing.Empty")
        check(resp.ByteSize() == 0, "response is not empty")

    def large_unary(self):
        resp = self.stub.UnaryCall(self.simple(), timeout=self.t)
        self.check_payload(resp.payload, 314159, "response")

    def client_streaming(self):
        sizes = (27182, 8, 1828, 45904)
        reqs = [self.pb.StreamingInputCallRequest(payload=self.payload(n))
                for n in sizes]
        resp = self.stub.StreamingInputCall(iter(reqs), timeout=self.t)
        check(resp.aggregated_payload_size == 74922,
              "aggregated_payload_size %d, want 74922" %
              resp.aggregated_payload_size)

    def server_streaming(self):
        sizes = [31415, 9, 2653, 58979]
        call = self.stub.StreamingOutputCall(self.output_request(sizes),
                                             timeout=self.t)
        got = [len(r.payload.body) for r in call]
        check(call.code() == grpc.StatusCode.OK,
              "status %s" % call.code())
        check(got == sizes, "response sizes %s, want %s" % (got, sizes))

    def ping_pong(self):
        steps = ((27182, 31415), (8, 9), (1828, 2653), (45904, 58979))
        feeder = Feeder(self.t)
        try:
            call = self.stub.FullDuplexCall(feeder, timeout=self.t)
            for i, (req_size, resp_size) in enumerate(steps):
                feeder.put(self.output_request([resp_size], req_size))
                try:
                    resp = next(call)
                except StopIteration:
                    raise CheckFailed("stream ended after %d responses, "
                                      "want 4" % i)
                self.check_payload(resp.payload, resp_size,
                                   "response %d" % (i + 1))
            feeder.close()
            rest = list(call)
            check(not rest, "%d responses after the 4th" % len(rest))
            check(call.code() == grpc.StatusCode.OK,
                  "status %s" % call.code())
        finally:
            feeder.close()

    def empty_stream(self):
        call = self.stub.FullDuplexCall(iter(()), timeout=self.t)
        got = list(call)
        check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())
        check(not got, "%d responses, want 0" % len(got))

    def timeout_on_sleeping_server(self):
        feeder = Feeder(self.t)
        try:
            # The request, then no half-close: the client waits.
            feeder.put(self.pb.StreamingOutputCallRequest(
                payload=self.payload(27182)))
            call = self.stub.FullDuplexCall(feeder, timeout=0.001)

            def drain():
                for _ in call:
                    raise CheckFailed("got a response, want none")
            self.expect_error(drain, grpc.StatusCode.DEADLINE_EXCEEDED)
        finally:
            feeder.close()

    def cancel_after_begin(self):
        feeder = Feeder(self.t)
        try:
            fut = self.stub.StreamingInputCall.future(feeder, timeout=self.t)
            fut.cancel()
            end = time.monotonic() + self.t
            while not fut.done() and time.monotonic() < end:
                time.sleep(0.01)
            check(fut.done(), "call not done %.0f s after cancel" % self.t)
            check(fut.code() == grpc.StatusCode.CANCELLED,
                  "status %s, want CANCELLED" % fut.code())
        finally:
            feeder.close()

    def cancel_after_first_response(self):
        feeder = Feeder(self.t)
        try:
            call = self.stub.FullDuplexCall(feeder, timeout=self.t)
            feeder.put(self.output_request([31415], 27182))
            try:
                resp = next(call)
            except StopIteration:
                raise CheckFailed("stream ended before the first response")
            self.check_payload(resp.payload, 31415, "response")
            call.cancel()
            check(call.code() == grpc.StatusCode.CANCELLED,
                  "status %s, want CANCELLED" % call.code())
        finally:
            feeder.close()

    def _echo_status(self, message, both):
        status = self.pb.EchoStatus(code=2, message=message)
        self.expect_error(
            lambda: self.stub.UnaryCall(
                self.pb.SimpleRequest(response_status=status),
                timeout=self.t),
            grpc.StatusCode.UNKNOWN, message, "UnaryCall")
        if not both:
            return

        def bidi():
            req = self.pb.StreamingOutputCallRequest(response_status=status)
            call = self.stub.FullDuplexCall(iter([req]), timeout=self.t)
            list(call)
        self.expect_error(bidi, grpc.StatusCode.UNKNOWN, message,
                          "FullDuplexCall")

    def status_code_and_message(self):
        self._echo_status(STATUS_MESSAGE, True)

    def special_status_message(self):
        self._echo_status(SPECIAL_STATUS_MESSAGE, False)

    def _check_echo(self, call, what):
        initial = [v for k, v in call.initial_metadata() or ()
                   if k == common.ECHO_INITIAL_KEY]
        check(initial == [ECHO_INITIAL_VALUE],
              "%s: initial metadata %s = %r, want [%r]" %
              (what, common.ECHO_INITIAL_KEY, initial, ECHO_INITIAL_VALUE))
        trailing = [v for k, v in call.trailing_metadata() or ()
                    if k == common.ECHO_TRAILING_KEY]
        check(trailing == [ECHO_TRAILING_VALUE],
              "%s: trailing metadata %s = %r, want [%r]" %
              (what, common.ECHO_TRAILING_KEY, trailing,
               ECHO_TRAILING_VALUE))

    def custom_metadata(self):
        md = ((common.ECHO_INITIAL_KEY, ECHO_INITIAL_VALUE),
              (common.ECHO_TRAILING_KEY, ECHO_TRAILING_VALUE))
        resp, call = self.stub.UnaryCall.with_call(
            self.simple(), metadata=md, timeout=self.t)
        self.check_payload(resp.payload, 314159, "UnaryCall response")
        self._check_echo(call, "UnaryCall")

        req = self.output_request([314159], 271828)
        call = self.stub.FullDuplexCall(iter([req]), metadata=md,
                                        timeout=self.t)
        got = list(call)
        check(call.code() == grpc.StatusCode.OK,
              "FullDuplexCall: status %s" % call.code())
        check(len(got) == 1, "FullDuplexCall: %d responses, want 1" %
              len(got))
        self.check_payload(got[0].payload, 314159, "FullDuplexCall response")
        self._check_echo(call, "FullDuplexCall")

    def unimplemented_method(self):
        self.expect_error(
            lambda: self.stub.UnimplementedCall(self.empty_pb2.Empty(),
                                                timeout=self.t),
            grpc.StatusCode.UNIMPLEMENTED)

    def unimplemented_service(self):
        self.expect_error(
            lambda: self.unimplemented.UnimplementedCall(
                self.empty_pb2.Empty(), timeout=self.t),
            grpc.StatusCode.UNIMPLEMENTED)

    def client_compressed_unary(self):
        def probe_req(expect):
            req = self.simple()
            req.expect_compressed.value = expect
            return req
        # The probe: uncompressed, but claims to be compressed.
        self.expect_error(
            lambda: self.stub.UnaryCall(probe_req(True), timeout=self.t),
            grpc.StatusCode.INVALID_ARGUMENT,
            what="probe (uncompressed, expect_compressed=true)")
        for expect in (True, False):
            compression = grpc.Compression.Gzip if expect else None
            try:
                resp = self.stub.UnaryCall(probe_req(expect),
                                           compression=compression,
                                           timeout=self.t)
            except grpc.RpcError as e:
                raise CheckFailed("%s call: %s" % (
                    "compressed" if expect else "uncompressed", describe(e)))
            self.check_payload(resp.payload, 314159, "response")

    def server_compressed_unary(self):
        for compressed in (True, False):
            req = self.simple()
            req.response_compressed.value = compressed
            try:
                resp = self.stub.UnaryCall(req, timeout=self.t)
            except grpc.RpcError as e:
                raise CheckFailed("response_compressed=%s: %s" %
                                  (compressed, describe(e)))
            self.check_payload(resp.payload, 314159,
                               "response_compressed=%s" % compressed)
        raise Skipped("%s; both calls succeeded with the right payloads, "
                      "the flag itself is unchecked" % common.NO_FLAG_ACCESS)

    def client_compressed_streaming(self):
        # The probe, as the case describes it.
        def probe():
            req = self.pb.StreamingInputCallRequest(
                payload=self.payload(27182))
            req.expect_compressed.value = True
            self.stub.StreamingInputCall(iter([req]), timeout=self.t)
        self.expect_error(probe, grpc.StatusCode.INVALID_ARGUMENT,
                          what="probe (uncompressed, expect_compressed=true)")
        # What grpcio can send: both messages gzip (the case wants the
        # second one uncompressed in the same call).
        reqs = []
        for size in (27182, 45904):
            req = self.pb.StreamingInputCallRequest(payload=self.payload(size))
            req.expect_compressed.value = True
            reqs.append(req)
        try:
            resp = self.stub.StreamingInputCall(
                iter(reqs), compression=grpc.Compression.Gzip,
                timeout=self.t)
        except grpc.RpcError as e:
            raise CheckFailed("gzip call: %s" % describe(e))
        check(resp.aggregated_payload_size == 73086,
              "aggregated_payload_size %d, want 73086" %
              resp.aggregated_payload_size)
        raise Skipped(
            "grpcio has no per-message compression control on the client "
            "(the case sends a gzip message then an uncompressed one in one "
            "call); checked instead: the probe, and a call of two gzip "
            "messages")

    def server_compressed_streaming(self):
        req = self.output_request([31415, 92653], compressed=[True, False])
        call = self.stub.StreamingOutputCall(req, timeout=self.t)
        got = [len(r.payload.body) for r in call]
        check(call.code() == grpc.StatusCode.OK, "status %s" % call.code())
        check(got == [31415, 92653],
              "response sizes %s, want [31415, 92653]" % got)
        raise Skipped("%s; the call succeeded with the right payloads, the "
                      "flags themselves are unchecked" %
                      common.NO_FLAG_ACCESS)


class Runner:
    def __init__(self):
        self.passed = self.failed = self.skipped = 0

    def run(self, name, fn):
        try:
            fn()
        except Skipped as e:
            self.skip(name, str(e))
        except CheckFailed as e:
            self.fail(name, str(e))
        except grpc.RpcError as e:
            self.fail(name, "RPC failed: " + describe(e))
        except Exception as e:  # a case must never stop the run
            import traceback
            traceback.print_exc(file=sys.stderr)
            self.fail(name, "%s: %s" % (type(e).__name__, e))
        else:
            self.passed += 1
            common.say("PASS %s" % name)

    def skip(self, name, why):
        self.skipped += 1
        common.say("SKIP %s: %s" % (name, why.replace("\n", " ")))

    def fail(self, name, why):
        self.failed += 1
        common.say("FAIL %s: %s" % (name, why.replace("\n", " ")))

    def finish(self):
        common.say("%d passed, %d failed, %d skipped" %
                   (self.passed, self.failed, self.skipped))
        return 0 if self.failed == 0 and self.passed > 0 else 1


def names(text):
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def main():
    ap = argparse.ArgumentParser(
        description="grpcio client for grpc's official interop cases")
    ap.add_argument("--server_host", default="127.0.0.1")
    ap.add_argument("--server_port", type=int)
    ap.add_argument("--server_host_override", default="",
                    help="the :authority to claim")
    ap.add_argument("--test_case", default="all",
                    help="all, or case names separated by commas")
    ap.add_argument("--skip", action="append", default=[],
                    help="cases to skip, separated by commas (repeatable)")
    ap.add_argument("--skip_reason", default="skipped by --skip",
                    help="reason printed for the cases --skip names")
    ap.add_argument("--use_tls", default="false",
                    help="only false: this peer offers no TLS")
    ap.add_argument("--rpc_timeout_s", type=float, default=10.0,
                    help="deadline of every RPC but the 1 ms one "
                         "(default 10)")
    ap.add_argument("--gen_dir", default=None,
                    help="folder for the generated stubs (default: a "
                         "private temporary folder)")
    ap.add_argument("--list", action="store_true",
                    help="print the case names and exit")
    args = ap.parse_args()

    if args.list:
        for name in CASES:
            common.say(name)
        return 0
    try:
        use_tls = common.parse_bool(args.use_tls)
    except ValueError as e:
        ap.error(str(e))
    if use_tls:
        ap.error("--use_tls=true is not supported by this peer")
    if args.server_port is None:
        ap.error("--server_port is required")
    wanted = list(CASES) if args.test_case == "all" else names(args.test_case)
    skip = set()
    for text in args.skip:
        skip.update(names(text))
    unknown = [n for n in wanted + sorted(skip) if n not in CASES]
    if unknown:
        ap.error("unknown case(s): %s (--list names them)" %
                 ", ".join(unknown))

    stubs = common.load_stubs(args.gen_dir)
    options = []
    if args.server_host_override:
        options.append(("grpc.default_authority",
                        args.server_host_override))
    target = "%s:%d" % (args.server_host, args.server_port)
    if ":" in args.server_host and not args.server_host.startswith("["):
        target = "[%s]:%d" % (args.server_host, args.server_port)
    runner = Runner()
    with grpc.insecure_channel(target, options=options) as channel:
        client = Client(channel, stubs, args.rpc_timeout_s)
        for name in wanted:
            if name in skip:
                runner.skip(name, args.skip_reason)
                continue
            runner.run(name, getattr(client, name))
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
