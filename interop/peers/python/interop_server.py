#!/usr/bin/python3
"""grpcio server for grpc's official interop cases: grpc.testing.TestService
as doc/interop-test-descriptions.md describes its server features.

  /usr/bin/python3 interop_server.py --port=N [--use_tls=false] [--gen_dir=DIR]

Listens on 127.0.0.1 only (port 0 = any free port), prints
`LISTENING <port>` once it serves, and exits 0 after a graceful stop on
SIGTERM or SIGINT.

Features: EmptyCall, UnaryCall, CacheableUnaryCall, StreamingInputCall,
StreamingOutputCall, FullDuplexCall, HalfDuplexCall; Echo Status
(response_status), Echo Metadata (x-grpc-test-echo-initial,
x-grpc-test-echo-trailing-bin), CompressedResponse (response_compressed,
ResponseParameters.compressed: gzip for the call, then per message
`disable_next_message_compression`), ResponseParameters.interval_us.
UnimplementedCall and grpc.testing.UnimplementedService are left out on
purpose (UNIMPLEMENTED).

Not implemented: CompressedRequest (expect_compressed). grpcio gives a
handler neither the compressed flag of a request message nor its
grpc-encoding header, so, like grpcio's own interop server, this server
ignores expect_compressed. The matrix skips client_compressed_unary and
client_compressed_streaming against it (docs/interop.md). TLS is not
offered (--use_tls=true is refused).
"""

import argparse
import concurrent.futures
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import interop_common as common  # noqa: E402

import grpc  # noqa: E402

SLEEP_SLICE_S = 0.010
# interval_us above this is treated as this (a misbehaving client must not
# pin a worker for hours).
MAX_INTERVAL_S = 60.0


def build_servicer(empty_pb2, messages_pb2, test_pb2_grpc):

    def zeros_payload(size):
        return messages_pb2.Payload(type=messages_pb2.COMPRESSABLE,
                                    body=b"\x00" * max(0, size))

    class Call:
        """Per-call helpers: metadata echo, status echo, compression."""

        def __init__(self, context):
            self.ctx = context
            self.initial_sent = False
            self.compressing = False
            self.echo_initial = None
            self.echo_trailing = None
            for key, value in context.invocation_metadata():
                if key == common.ECHO_INITIAL_KEY and \
                        self.echo_initial is None:
                    self.echo_initial = value
                elif key == common.ECHO_TRAILING_KEY and \
                        self.echo_trailing is None:
                    self.echo_trailing = value

        def set_trailers(self):
            if self.echo_trailing is not None:
                self.ctx.set_trailing_metadata(
                    ((common.ECHO_TRAILING_KEY, self.echo_trailing),))

        def send_initial(self):
            """Sends x-grpc-test-echo-initial back at once (when asked)."""
            if self.echo_initial is not None and not self.initial_sent:
                self.ctx.send_initial_metadata(
                    ((common.ECHO_INITIAL_KEY, self.echo_initial),))
                self.initial_sent = True

        def enable_compression(self):
            """gzip for the call's messages; only possible while the
            response headers are not yet out."""
            if self.compressing:
                return True
            if self.initial_sent:
                return False
            self.ctx.set_compression(grpc.Compression.Gzip)
            self.compressing = True
            return True

        def check_type(self, response_type):
            if response_type != messages_pb2.COMPRESSABLE:
                self.ctx.abort(grpc.StatusCode.INVALID_ARGUMENT,
                               "response_type %d not supported" %
                               response_type)

        def echo_status(self, request):
            """Ends the call with request.response_status when it is set
            and not OK (raises, as context.abort does)."""
            if request.HasField("response_status") and \
                    request.response_status.code != 0:
                self.ctx.abort(common.status_code(
                    request.response_status.code),
                    request.response_status.message)

        def sleep_us(self, interval_us):
            """interval_us, in short slices, ending early on cancellation."""
            if interval_us <= 0:
                return
            end = time.monotonic() + min(interval_us / 1e6, MAX_INTERVAL_S)
            while self.ctx.is_active():
                left = end - time.monotonic()
                if left <= 0:
                    return
                time.sleep(min(left, SLEEP_SLICE_S))

        def streamed(self, params, response_type):
            """One response per ResponseParameters, honouring interval_us
            and compressed (a generator)."""
            for p in params:
                self.sleep_us(p.interval_us)
                if not self.ctx.is_active():
                    return
                if p.compressed.value:
                    if not self.enable_compression():
                        sys.stderr.write(
                            "interop_server: cannot compress a message after "
                            "the response headers went out uncompressed\n")
                elif self.compressing:
                    self.ctx.disable_next_message_compression()
                yield messages_pb2.StreamingOutputCallResponse(
                    payload=messages_pb2.Payload(type=response_type,
                                                 body=b"\x00" *
                                                 max(0, p.size)))

    class TestService(test_pb2_grpc.TestServiceServicer):

        def EmptyCall(self, request, context):
            call = Call(context)
            call.send_initial()
            call.set_trailers()
            return empty_pb2.Empty()

        def UnaryCall(self, request, context):
            call = Call(context)
            if request.response_compressed.value:
                call.enable_compression()
            # expect_compressed: not checkable with grpcio (module doc).
            call.send_initial()
            call.set_trailers()
            call.echo_status(request)
            call.check_type(request.response_type)
            return messages_pb2.SimpleResponse(
                payload=zeros_payload(request.response_size))

        def CacheableUnaryCall(self, request, context):
            # Only meaningful behind a caching proxy; answers with a
            # payload that differs on every call, as the server feature
            # asks.
            call = Call(context)
            call.send_initial()
            call.set_trailers()
            stamp = str(time.time_ns()).encode("ascii")
            return messages_pb2.SimpleResponse(
                payload=messages_pb2.Payload(type=messages_pb2.COMPRESSABLE,
                                             body=stamp))

        def StreamingOutputCall(self, request, context):
            call = Call(context)
            call.set_trailers()
            if any(p.compressed.value for p in request.response_parameters):
                call.enable_compression()
            call.send_initial()
            call.echo_status(request)
            call.check_type(request.response_type)
            yield from call.streamed(request.response_parameters,
                                     request.response_type)

        def StreamingInputCall(self, request_iterator, context):
            call = Call(context)
            call.send_initial()
            call.set_trailers()
            total = 0
            # expect_compressed: not checkable with grpcio (module doc).
            for request in request_iterator:
                total += len(request.payload.body)
            return messages_pb2.StreamingInputCallResponse(
                aggregated_payload_size=total)

        def FullDuplexCall(self, request_iterator, context):
            call = Call(context)
            call.set_trailers()
            # Echoed initial metadata goes out before any request is read
            # (a client may wait for it); otherwise the headers go with the
            # first response, so that its request can still ask for gzip.
            call.send_initial()
            for request in request_iterator:
                call.echo_status(request)
                call.check_type(request.response_type)
                if any(p.compressed.value
                       for p in request.response_parameters):
                    call.enable_compression()
                yield from call.streamed(request.response_parameters,
                                         request.response_type)
                if not context.is_active():
                    return

        def HalfDuplexCall(self, request_iterator, context):
            call = Call(context)
            call.set_trailers()
            call.send_initial()
            requests = []
            for request in request_iterator:
                call.echo_status(request)
                call.check_type(request.response_type)
                requests.append(request)
            if any(p.compressed.value for r in requests
                   for p in r.response_parameters):
                call.enable_compression()
            for request in requests:
                yield from call.streamed(request.response_parameters,
                                         request.response_type)

        # UnimplementedCall: not overridden, so the generated base class
        # answers UNIMPLEMENTED, as the unimplemented_method case wants.

    return TestService()


def main():
    ap = argparse.ArgumentParser(
        description="grpcio TestService server for grpc's interop cases")
    ap.add_argument("--port", type=int, default=0,
                    help="port on 127.0.0.1 (0 = any free port)")
    ap.add_argument("--use_tls", default="false",
                    help="only false: this peer offers no TLS")
    ap.add_argument("--gen_dir", default=None,
                    help="folder for the generated stubs (default: a "
                         "private temporary folder)")
    ap.add_argument("--max_workers", type=int, default=32)
    args = ap.parse_args()
    try:
        use_tls = common.parse_bool(args.use_tls)
    except ValueError as e:
        ap.error(str(e))
    if use_tls:
        sys.stderr.write("interop_server: --use_tls=true is not supported "
                         "by this peer\n")
        return 2

    empty_pb2, messages_pb2, test_pb2_grpc = common.load_stubs(args.gen_dir)
    server = grpc.server(
        concurrent.futures.ThreadPoolExecutor(max_workers=args.max_workers))
    test_pb2_grpc.add_TestServiceServicer_to_server(
        build_servicer(empty_pb2, messages_pb2, test_pb2_grpc), server)
    try:
        port = server.add_insecure_port("127.0.0.1:%d" % args.port)
    except RuntimeError as e:
        port = 0
        sys.stderr.write("interop_server: %s\n" % e)
    if port == 0:
        sys.stderr.write("interop_server: cannot listen on 127.0.0.1:%d\n" %
                         args.port)
        return 1
    server.start()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    common.say("LISTENING %d" % port)
    while not stop.wait(0.5):
        pass
    # Calls still running get 2 s, then are cancelled.
    server.stop(2.0).wait(10.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
