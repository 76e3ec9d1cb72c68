#!/usr/bin/python3
"""Hostile HTTP/2 and gRPC input against a tern server (hostile_target).

  hostile_server.py --server build/tests/hostile/hostile_target
                    [--db route_guide_db.json] [--case NAME]... [--list]
                    [--repeat N]

Starts two servers on 127.0.0.1: `default` (every tern_server_options
limit at its default) and `strict` (handshake 1 s, idle 3 s, rapid-reset
burst 100 at 10/s). Each case speaks raw HTTP/2 (hand-built frames, see
h2raw.py), checks the protocol's answer with bounded waits, then checks
that a grpcio client still gets a correct GetFeature and that the
server's descriptors (/proc/PID/fd) are back to the baseline and its RSS
(/proc/PID/status VmRSS) within RSS_SLACK_KIB of it (allocators keep
freed memory, so RSS is checked against a ceiling, not for equality).

Prints `PASS name` (with what was seen) or `FAIL name: why` per case and
`N passed, N failed`; exit status 0 only when all passed. README.md lists
the cases and their expected answers.
"""

import argparse
import gzip
import os
import queue
import random
import resource
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2raw import *  # noqa: E402,F401,F403

# Tolerances (see README.md). The server's allocator keeps freed memory
# (glibc arenas, pinned by long-lived tables that grew at the peak), so
# memory is judged after hostile_target's SIGUSR2 hook ran malloc_trim:
HEAP_SLACK = 1 << 20          # live heap bytes above the baseline
RSS_SLACK_KIB = 8 * 1024      # RSS after trimming, above the baseline
RSS_RAW_SLACK_KIB = 192 * 1024  # RSS before trimming: bounded, not exact
FLOOD_HEAP_MAX = 16 << 20     # live heap growth allowed during a flood
SANITIZED_RSS_SLACK_KIB = 1536 * 1024  # under ASan/TSan: a gross bound only
FD_SETTLE_S = 10.0            # descriptors must be back within this
ANSWER_S = 5.0                # any protocol answer must come within this
CPU_BOUND_S = 5.0             # server CPU per flood (allows ASan builds)

STRICT_ARGS = ["--handshake-ms", "1000", "--idle-ms", "3000",
               "--reset-burst", "100", "--reset-rate", "10"]


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- the server under test ----------------------------------------------------

class Server:
    def __init__(self, name, argv):
        self.name = name
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE,
                                  start_new_session=True)
        self.pid = self.p.pid
        self.port = None
        self.stderr_lines = []
        self.heap_q = queue.Queue()
        self.sanitized = False
        got = threading.Event()

        def out_pump():
            for raw in iter(self.p.stdout.readline, b""):
                line = raw.decode("utf-8", "replace").strip()
                if line.startswith("LISTENING ") and self.port is None:
                    self.port = int(line.split()[1])
                    got.set()
                elif line.startswith("HEAP "):
                    f = line.split()
                    self.sanitized = len(f) > 3 and f[3] == "1"
                    self.heap_q.put(int(f[1]) + int(f[2]))
            got.set()

        def err_pump():
            for raw in iter(self.p.stderr.readline, b""):
                if len(self.stderr_lines) < 200:
                    self.stderr_lines.append(
                        raw.decode("utf-8", "replace").rstrip())

        for fn in (out_pump, err_pump):
            threading.Thread(target=fn, daemon=True).start()
        if not got.wait(15) or self.port is None:
            self.kill()
            raise RuntimeError("%s server did not start: %s" % (
                name, "\n".join(self.stderr_lines[-20:])))
        self.base_fds = None
        self.base_rss = None
        self.base_heap = None

    def alive(self):
        return self.p.poll() is None

    def exit_desc(self):
        rc = self.p.poll()
        if rc is None:
            return "running"
        if rc < 0:
            return "killed by signal %d (%s)" % (
                -rc, signal.Signals(-rc).name)
        return "exited %d" % rc

    def kill(self):
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            self.p.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def stop(self):
        """SIGTERM; returns the exit status (SIGKILL after 10 s: None)."""
        if not self.alive():
            return self.p.returncode
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            return self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def fds(self):
        return fd_count(self.pid)

    def rss(self):
        return rss_kib(self.pid)

    def cpu(self):
        return cpu_seconds(self.pid)

    def heap(self):
        """Trims the server's allocator and returns its live heap bytes
        (hostile_target's SIGUSR2 hook); -1 if it does not answer."""
        while not self.heap_q.empty():
            self.heap_q.get_nowait()
        try:
            os.kill(self.pid, signal.SIGUSR2)
            return self.heap_q.get(timeout=5)
        except (OSError, queue.Empty):
            return -1


# --- a good client ------------------------------------------------------------

_grpc = None


def grpcio_get_feature(port, timeout=5.0):
    """GetFeature from grpcio on a fresh channel; raises Fail if wrong."""
    global _grpc
    if _grpc is None:
        import grpc
        _grpc = grpc
    ch = _grpc.insecure_channel("127.0.0.1:%d" % port)
    try:
        fn = ch.unary_unary(GET_FEATURE)
        try:
            resp = fn(point(), timeout=timeout)
        except _grpc.RpcError as e:
            raise Fail("grpcio GetFeature failed: %s %s" % (
                e.code(), e.details()))
        name = feature_name(resp)
        check(name == KNOWN_NAME, "grpcio GetFeature: wrong feature %r" % name)
    finally:
        ch.close()


def raw_get_feature(c, sid, extra=()):
    """A correct GetFeature on raw connection c; raises Fail if wrong."""
    c.good_request(sid, extra=extra)
    check(c.wait_stream(sid, ANSWER_S),
          "stream %d: no answer (%s)" % (sid, c.describe(sid)))
    check(c.grpc_status(sid) == 0,
          "stream %d: expected OK, got %s (%s)" % (
              sid, grpc_name(c.grpc_status(sid)), c.describe(sid)))
    msgs = grpc_messages(c.body.get(sid, b""))
    check(len(msgs) == 1 and feature_name(msgs[0][1]) == KNOWN_NAME,
          "stream %d: wrong response body %r" % (sid, c.body.get(sid)))


# --- answers ------------------------------------------------------------------

def names(codes):
    return "/".join(error_name(x) for x in codes)


def expect_goaway(c, codes, timeout=ANSWER_S, allow_plain_close=False):
    """The connection ends with GOAWAY(one of codes), then closes."""
    c.wait_goaway_or_close(timeout)
    if c.goaway is None:
        check(allow_plain_close and c.closed,
              "expected GOAWAY %s, saw %s" % (names(codes), c.describe()))
        return "closed without GOAWAY"
    check(c.goaway[1] in codes, "expected GOAWAY %s, saw %s" % (
        names(codes), c.describe()))
    check(c.wait_closed(timeout),
          "GOAWAY %s but the connection stayed open" %
          error_name(c.goaway[1]))
    return "GOAWAY %s" % error_name(c.goaway[1])


def expect_rst(c, sid, codes, timeout=ANSWER_S):
    """Stream sid is reset with one of codes; the connection lives."""
    c.wait(lambda: sid in c.rst or c.goaway is not None, timeout)
    check(sid in c.rst and c.rst[sid] in codes,
          "expected RST_STREAM %s on %d, saw %s" % (
              names(codes), sid, c.describe(sid)))
    check(c.goaway is None and not c.closed,
          "connection ended after a stream error: %s" % c.describe())
    return "RST_STREAM %s" % error_name(c.rst[sid])


def expect_stream_or_conn_error(c, sid, codes, timeout=ANSWER_S):
    c.wait(lambda: sid in c.rst or c.goaway is not None, timeout)
    if sid in c.rst and c.rst[sid] in codes and c.goaway is None:
        return "RST_STREAM %s" % error_name(c.rst[sid])
    return expect_goaway(c, codes, timeout)


def expect_grpc(c, sid, code, timeout=ANSWER_S):
    check(c.wait_stream(sid, timeout), "stream %d: no answer in %.0f s (%s)"
          % (sid, timeout, c.describe(sid)))
    check(c.http_status(sid) == "200",
          "expected :status 200, saw %s" % c.describe(sid))
    got = c.grpc_status(sid)
    check(got == code, "expected %s, saw %s (%s)" % (
        grpc_name(code), grpc_name(got), c.describe(sid)))
    check(sid in c.ended, "stream %d not ended with END_STREAM: %s" % (
        sid, c.describe(sid)))
    check(c.goaway is None, "connection ended: %s" % c.describe())
    msg = c.grpc_message(sid)
    return grpc_name(got) + (" %r" % msg if msg else "")


def expect_http(c, sid, status, timeout=ANSWER_S):
    check(c.wait_stream(sid, timeout), "stream %d: no answer (%s)" % (
        sid, c.describe(sid)))
    check(c.http_status(sid) == status, "expected :status %s, saw %s" % (
        status, c.describe(sid)))
    check(c.goaway is None, "connection ended: %s" % c.describe())
    return ":status %s" % status


def open_conn(srv, entries=(), **kw):
    return Conn(srv.port, **kw).handshake(entries)


# --- cases --------------------------------------------------------------------

CASES = []


def case(name, server="default", heavy=False):
    def deco(fn):
        CASES.append((name, server, heavy, fn))
        return fn
    return deco


def conn_error_case(name, payload_fn, codes, server="default",
                    allow_plain_close=False):
    """A fresh connection, payload_fn(conn) sends something, the answer is
    GOAWAY with one of codes and a close."""
    def run(srv):
        c = open_conn(srv)
        try:
            payload_fn(c)
            return expect_goaway(c, codes, allow_plain_close=allow_plain_close)
        finally:
            c.close()
    case(name, server)(run)


def stream_error_case(name, payload_fn, codes, sid=1, next_sid=None,
                      conn_ok=False):
    """payload_fn(conn) breaks stream sid: RST_STREAM with one of codes
    (or, when conn_ok, GOAWAY with one of them); then, when the connection
    lives, a good request on next_sid is served on it."""
    def run(srv):
        c = open_conn(srv)
        try:
            payload_fn(c)
            if conn_ok:
                seen = expect_stream_or_conn_error(c, sid, codes)
            else:
                seen = expect_rst(c, sid, codes)
            if c.goaway is None:
                raw_get_feature(c, next_sid or sid + 2)
                seen += ", then served"
            return seen
        finally:
            c.close()
    case(name)(run)


def grpc_case(name, payload_fn, code=None, http=None, sid=1):
    """payload_fn(conn, sid) sends a request; the answer is gRPC status
    `code` (or HTTP status `http`), and the connection serves the next
    request."""
    def run(srv):
        c = open_conn(srv)
        try:
            payload_fn(c, sid)
            if http is not None:
                seen = expect_http(c, sid, http)
            else:
                seen = expect_grpc(c, sid, code)
            raw_get_feature(c, sid + 2)
            return seen + ", then served"
        finally:
            c.close()
    case(name)(run)


HDR = encode_headers(request_headers())
PART1 = encode_headers(request_headers()[:3])
PART2 = encode_headers(request_headers()[3:])


def open_stream(c, sid=1):
    """HEADERS for GetFeature without END_STREAM: an open stream."""
    c.send(headers(sid, HDR))


# -- not HTTP/2 at all

def _garbage(c):
    rnd = random.Random(4)
    c.send(bytes(rnd.randrange(256) for _ in range(256)))


@case("garbage_instead_of_preface")
def _(srv):
    c = Conn(srv.port)
    try:
        _garbage(c)
        check(c.wait_closed(ANSWER_S), "still open after garbage: %s" %
              c.describe())
        check(c.goaway is None or c.goaway[1] == PROTOCOL_ERROR,
              "unexpected GOAWAY: %s" % c.describe())
        return "closed" + (" after GOAWAY PROTOCOL_ERROR" if c.goaway else "")
    finally:
        c.close()


def plain_text_case(name, text):
    @case(name)
    def _(srv):
        c = Conn(srv.port)
        try:
            c.send(text)
            check(c.wait_closed(ANSWER_S), "still open: %s" % c.describe())
            check(c.goaway is None or c.goaway[1] == PROTOCOL_ERROR,
                  "unexpected GOAWAY: %s" % c.describe())
            return "closed" + (" after GOAWAY PROTOCOL_ERROR"
                               if c.goaway else "")
        finally:
            c.close()


plain_text_case("http1_request_on_h2c_port",
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
plain_text_case("http1_grpc_post_on_h2c_port",
                b"POST /routeguide.RouteGuide/GetFeature HTTP/1.1\r\n"
                b"Host: 127.0.0.1\r\nContent-Type: application/grpc\r\n"
                b"Content-Length: 5\r\n\r\n\0\0\0\0\0")
plain_text_case("h2c_upgrade_request",
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                b"HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n")
plain_text_case("tls_client_hello_on_h2c_port",
                bytes.fromhex("16030100a5010000a10303") + b"\x00" * 32 +
                bytes.fromhex("000004130113020100007400000010000e00000b"
                              "6578616d706c652e636f6d"))
plain_text_case("truncated_preface_then_garbage", PREFACE[:10] + b"XXXX" * 8)


# -- frames on the wrong stream, bad frame sizes, bad SETTINGS

for _name, _fn, _codes in [
    ("data_on_stream_0", lambda c: c.send(data(0, b"x")), [PROTOCOL_ERROR]),
    ("headers_on_stream_0", lambda c: c.send(headers(0, HDR)),
     [PROTOCOL_ERROR]),
    ("settings_on_stream_1", lambda c: c.send(frame(SETTINGS, 0, 1)),
     [PROTOCOL_ERROR]),
    ("ping_on_stream_1", lambda c: c.send(ping(sid=1)), [PROTOCOL_ERROR]),
    ("goaway_on_stream_1", lambda c: c.send(goaway(0, 0, sid=1)),
     [PROTOCOL_ERROR]),
    ("rst_stream_on_stream_0", lambda c: c.send(rst(0, CANCEL)),
     [PROTOCOL_ERROR]),
    ("headers_on_even_stream", lambda c: c.send(headers(2, HDR)),
     [PROTOCOL_ERROR]),
    ("data_on_idle_stream", lambda c: c.send(data(7, b"x")),
     [PROTOCOL_ERROR]),
    ("rst_stream_on_idle_stream", lambda c: c.send(rst(9, CANCEL)),
     [PROTOCOL_ERROR]),
    ("window_update_on_idle_stream",
     lambda c: c.send(window_update(11, 100)), [PROTOCOL_ERROR]),
    ("continuation_without_headers",
     lambda c: c.send(continuation(1, HDR, True)), [PROTOCOL_ERROR]),
    ("frame_inside_header_block",
     lambda c: c.send(headers(1, PART1, end_headers=False) + ping()),
     [PROTOCOL_ERROR]),
    ("continuation_on_other_stream",
     lambda c: c.send(headers(1, PART1, end_headers=False) +
                      continuation(3, PART2, True)), [PROTOCOL_ERROR]),
    ("push_promise_from_client",
     lambda c: (open_stream(c), c.send(frame(PUSH_PROMISE, END_HEADERS, 1,
                                             b"\0\0\0\x02" + HDR))),
     [PROTOCOL_ERROR]),
    ("frame_larger_than_max_frame_size",
     lambda c: (open_stream(c), c.send(data(1, b"\0" * 20000))),
     [FRAME_SIZE_ERROR]),
    ("ping_wrong_length", lambda c: c.send(frame(PING, 0, 0, b"\0" * 7)),
     [FRAME_SIZE_ERROR]),
    ("settings_wrong_length",
     lambda c: c.send(frame(SETTINGS, 0, 0, b"\0" * 5)), [FRAME_SIZE_ERROR]),
    ("settings_ack_with_payload",
     lambda c: c.send(frame(SETTINGS, ACK, 0, b"\0" * 6)),
     [FRAME_SIZE_ERROR]),
    ("window_update_wrong_length",
     lambda c: c.send(frame(WINDOW_UPDATE, 0, 0, b"\0" * 3)),
     [FRAME_SIZE_ERROR]),
    ("rst_stream_wrong_length",
     lambda c: (open_stream(c), c.send(frame(RST_STREAM, 0, 1, b"\0" * 3))),
     [FRAME_SIZE_ERROR]),
    ("padding_longer_than_frame",
     lambda c: (open_stream(c), c.send(frame(DATA, PADDED, 1, b"\xff" + b"x"))),
     [PROTOCOL_ERROR]),
    ("window_update_zero_connection",
     lambda c: c.send(window_update(0, 0)), [PROTOCOL_ERROR]),
    ("window_update_overflow_connection",
     lambda c: c.send(window_update(0, 0x7FFFFFFF)), [FLOW_CONTROL_ERROR]),
    ("settings_initial_window_too_big",
     lambda c: c.send(settings([(INITIAL_WINDOW_SIZE, 0x80000000)])),
     [FLOW_CONTROL_ERROR]),
    ("settings_enable_push_2",
     lambda c: c.send(settings([(ENABLE_PUSH, 2)])), [PROTOCOL_ERROR]),
    ("settings_max_frame_size_too_small",
     lambda c: c.send(settings([(MAX_FRAME_SIZE, 100)])), [PROTOCOL_ERROR]),
    ("settings_too_many_entries",
     lambda c: c.send(settings([(0x100 + i, i) for i in range(200)])),
     [ENHANCE_YOUR_CALM]),
    # Invalid HPACK: every one a connection error COMPRESSION_ERROR.
    ("hpack_index_zero", lambda c: c.send(headers(1, b"\x80")),
     [COMPRESSION_ERROR]),
    ("hpack_index_out_of_range", lambda c: c.send(headers(1, indexed(5000))),
     [COMPRESSION_ERROR]),
    ("hpack_integer_overflow",
     lambda c: c.send(headers(1, b"\xff" + b"\xff" * 12 + b"\x01")),
     [COMPRESSION_ERROR]),
    ("hpack_table_size_update_too_big",
     lambda c: c.send(headers(1, hpack_int(1 << 20, 5, 0x20) + HDR)),
     [COMPRESSION_ERROR]),
    ("hpack_table_size_update_after_field",
     lambda c: c.send(headers(1, HDR + hpack_int(0, 5, 0x20))),
     [COMPRESSION_ERROR]),
    ("hpack_truncated_string",
     lambda c: c.send(headers(1, b"\x00\x05ab")), [COMPRESSION_ERROR]),
    ("hpack_bad_huffman_padding",
     lambda c: c.send(headers(1, b"\x00\x81\x00\x01v" + HDR)),
     [COMPRESSION_ERROR]),
    ("hpack_huffman_eos",
     lambda c: c.send(headers(1, b"\x00\x84\xff\xff\xff\xff\x01v" + HDR)),
     [COMPRESSION_ERROR]),
]:
    conn_error_case(_name, _fn, _codes)


# -- stream-level errors: the stream is reset, the connection lives

stream_error_case(
    "window_update_overflow_stream",
    lambda c: (open_stream(c), c.send(window_update(1, 0x7FFFFFFF))),
    [FLOW_CONTROL_ERROR])
stream_error_case(
    "window_update_zero_stream",
    lambda c: (open_stream(c), c.send(window_update(1, 0))),
    [PROTOCOL_ERROR], conn_ok=True)
stream_error_case(
    "priority_depends_on_itself",
    lambda c: c.send(frame(HEADERS, END_HEADERS | PRIORITY_FLAG, 1,
                           b"\0\0\0\x01\x10" + HDR)),
    [PROTOCOL_ERROR], conn_ok=True)


@case("data_over_stream_window")
def _(srv):
    # RecordRoute whose handler waits 3 s before reading: the server holds
    # 1 MiB of unread messages, then stops opening the stream window (1
    # MiB). A client that sends 4 MiB without waiting overruns it.
    c = open_conn(srv)
    try:
        big = grpc_frame(point() + b"\x7a\xf8\x7c" + b"u" * 16000)
        c.request(1, request_headers(path=RECORD_ROUTE,
                                     extra=[("x-delay-ms", "3000")]),
                  big * 256, end=False)
        seen = expect_stream_or_conn_error(c, 1, [FLOW_CONTROL_ERROR])
        if c.goaway is None:
            raw_get_feature(c, 3)
            seen += ", then served"
        return seen
    finally:
        c.close()


@case("stream_id_goes_backwards")
def _(srv):
    # RFC 9113 5.1.1 makes this a connection error; nghttp2 knowingly
    # ignores HEADERS on a lower, unused stream id (it cannot tell them
    # from a late frame on a stream it closed). Either is accepted; the
    # connection must then serve stream 5.
    c = open_conn(srv)
    try:
        c.send(headers(5, HDR) + headers(3, HDR, end_stream=True))
        c.wait(lambda: c.goaway is not None or 3 in c.headers or
               3 in c.rst, 1.0)
        if c.goaway is not None:
            return expect_goaway(c, [PROTOCOL_ERROR])
        check(3 not in c.headers, "stream 3 was served: %s" % c.describe(3))
        c.send(data(5, grpc_frame(point()), True))
        expect_grpc(c, 5, 0)
        return "HEADERS on stream 3 ignored%s, stream 5 served" % (
            " (RST_STREAM %s)" % error_name(c.rst[3]) if 3 in c.rst else "")
    finally:
        c.close()
stream_error_case(
    "data_after_end_stream",
    lambda c: c.send(headers(1, HDR, end_stream=True) + data(1, b"xx")),
    [STREAM_CLOSED], conn_ok=True)

for _name, _hdrs in [
    ("request_missing_path", request_headers(drop=(":path",))),
    ("request_missing_method", request_headers(drop=(":method",))),
    ("request_missing_scheme", request_headers(drop=(":scheme",))),
    ("request_uppercase_header_name",
     request_headers(extra=[("X-Upper", "v")])),
    ("request_connection_header",
     request_headers(extra=[("connection", "keep-alive")])),
    ("request_pseudo_header_after_regular",
     request_headers() + [(":authority", "x")]),
    ("request_duplicate_path",
     request_headers() + [(":path", GET_FEATURE)]),
    ("request_unknown_pseudo_header",
     request_headers(extra=[(":bogus", "1")])),
    ("request_te_gzip", request_headers(replace={"te": "gzip"})),
    ("request_path_without_slash", request_headers(path="GetFeature")),
    ("request_empty_path", request_headers(path="")),
    ("request_space_around_value",
     request_headers(extra=[("grpc-timeout", " 1S")])),
    ("request_nul_in_value", request_headers(extra=[("x-a", "a\0b")])),
    ("request_crlf_in_value",
     request_headers(extra=[("x-a", "a\r\nx-b: c")])),
]:
    stream_error_case(
        _name,
        (lambda h: lambda c: c.send(headers(1, encode_headers(h)) +
                                    data(1, grpc_frame(point()), True)))(
            _hdrs),
        [PROTOCOL_ERROR])

stream_error_case(
    "content_length_mismatch",
    lambda c: c.send(headers(1, encode_headers(request_headers(
        extra=[("content-length", "3")]))) +
        data(1, grpc_frame(point()), True)),
    [PROTOCOL_ERROR])


@case("too_many_concurrent_streams")
def _(srv):
    c = open_conn(srv)
    try:
        c.wait(lambda: c.settings_acks > 0, ANSWER_S)
        for i in range(101):
            open_stream(c, 1 + 2 * i)
        sid = 1 + 2 * 100
        seen = expect_stream_or_conn_error(c, sid, [REFUSED_STREAM,
                                                    PROTOCOL_ERROR])
        check(all(1 + 2 * i not in c.rst for i in range(100)),
              "one of the first 100 streams was reset: %s" % c.rst)
        if c.goaway is None:
            for i in range(100):  # end them, then one more is served
                c.send(data(1 + 2 * i, grpc_frame(point()), True))
            check(c.wait(lambda: all(c.stream_done(1 + 2 * i)
                                     for i in range(100)), ANSWER_S),
                  "the first 100 streams were not answered")
            raw_get_feature(c, sid + 2)
            seen += ", the 100 served, then one more"
        return seen
    finally:
        c.close()


# -- gRPC-level hostile input on a good connection

def _req(extra=(), msg=None, hdrs=None, end=True):
    def send(c, sid):
        h = hdrs if hdrs is not None else request_headers(extra=extra)
        c.request(sid, h, grpc_frame(point()) if msg is None else msg,
                  end=end)
    return send


grpc_case("length_prefix_4gib",
          _req(msg=grpc_frame(b"\0" * 100, length=0xFFFFFFFF), end=False),
          code=8)
grpc_case("length_prefix_just_over_4mib",
          _req(msg=grpc_frame(b"\0" * 100, length=4 * 1024 * 1024 + 1),
               end=False), code=8)
grpc_case("compressed_flag_without_encoding",
          _req(msg=grpc_frame(point(), compressed=True)), code=13)
grpc_case("compressed_flag_identity_encoding",
          _req(extra=[("grpc-encoding", "identity")],
               msg=grpc_frame(point(), compressed=True)), code=13)
grpc_case("compressed_unknown_encoding",
          _req(extra=[("grpc-encoding", "snappy")],
               msg=grpc_frame(point(), compressed=True)), code=12)
grpc_case("compressed_corrupt_gzip",
          _req(extra=[("grpc-encoding", "gzip")],
               msg=grpc_frame(b"\x1f\x8b\x08\0garbage-garbage",
                              compressed=True)), code=13)
grpc_case("gzip_bomb_64mib",
          _req(extra=[("grpc-encoding", "gzip")],
               msg=grpc_frame(gzip.compress(b"\0" * (64 << 20), 9),
                              compressed=True)), code=8)
grpc_case("wrong_content_type",
          _req(hdrs=request_headers(replace={"content-type": "text/html"})),
          http="415")
grpc_case("content_type_grpc_prefix_only",
          _req(hdrs=request_headers(
              replace={"content-type": "application/grpcx"})), http="415")
grpc_case("method_get", _req(hdrs=request_headers(
    replace={":method": "GET"})), http="405")
grpc_case("unknown_method",
          _req(hdrs=request_headers(path="/routeguide.RouteGuide/Nope")),
          code=12)
grpc_case("unknown_service",
          _req(hdrs=request_headers(path="/no.Such/Thing")), code=12)
grpc_case("truncated_message",
          _req(msg=grpc_frame(b"\0" * 10, length=100)), code=13)
grpc_case("truncated_length_prefix", _req(msg=b"\0\0\0"), code=13)
grpc_case("two_messages_on_unary",
          _req(msg=grpc_frame(point()) + grpc_frame(point())), code=13)
grpc_case("no_message_on_unary",
          lambda c, sid: c.send(headers(sid, HDR, end_stream=True)), code=13)
grpc_case("garbage_protobuf", _req(msg=grpc_frame(b"\xff\xff\xff\xff")),
          code=13)
grpc_case("header_list_over_16kib",
          _req(extra=[("x-big-%d" % i, "v" * 7000) for i in range(3)]),
          code=8)
grpc_case("invalid_bin_metadata",
          _req(extra=[("x-thing-bin", "!!!not base64!!!")]), code=0)


@case("grpc_timeout_expires")
def _(srv):
    # 5 rounds of 20 slow calls with a 100 ms grpc-timeout: each must end
    # DEADLINE_EXCEEDED, whatever the handler returns once it sees the
    # deadline has passed.
    c = open_conn(srv)
    try:
        bad = []
        for r in range(5):
            sids = [1 + 2 * (20 * r + i) for i in range(20)]
            for sid in sids:
                c.request(sid, request_headers(extra=[
                    ("grpc-timeout", "100m"), ("x-delay-ms", "3000")]),
                    grpc_frame(point()))
            check(c.wait(lambda: all(c.stream_done(s) for s in sids),
                         ANSWER_S), "not all answered: %s" % c.describe())
            bad += [grpc_name(c.grpc_status(s)) for s in sids
                    if c.grpc_status(s) != 4]
        check(not bad, "WRONG ANSWER (library, a race): %d of 100 calls past "
              "their deadline ended %s instead of DEADLINE_EXCEEDED "
              "(tern_server_call_is_cancelled turns true at the deadline "
              "before the loop's deadline timer has set the status, so the "
              "handler's CANCELLED wins)" % (len(bad), "/".join(sorted(set(
                  bad)))))
        raw_get_feature(c, 201)
        return "100 x DEADLINE_EXCEEDED, then served"
    finally:
        c.close()


# Unparsable grpc-timeout values are ignored (as grpc C++ does): served.
for _n, _v in [("empty", ""), ("letters", "abc"), ("no_unit", "1"),
               ("no_digits", "S"), ("nine_digits", "123456789S"),
               ("negative", "-1S"), ("fraction", "1.5S"),
               ("twenty_digits", "99999999999999999999H"),
               ("bad_unit", "1Z"), ("hex", "0x10S"), ("inner_space", "1 S")]:
    grpc_case("invalid_grpc_timeout_" + _n,
              _req(extra=[("grpc-timeout", _v)]), code=0)
grpc_case("huge_valid_grpc_timeout",
          _req(extra=[("grpc-timeout", "99999999H")]), code=0)


@case("missing_content_type")
def _(srv):
    # The gRPC spec requires content-type; grpc C++ still serves such a
    # request, grpc-go answers 415. Either is protocol-correct.
    c = open_conn(srv)
    try:
        c.request(1, request_headers(drop=("content-type",)),
                  grpc_frame(point()))
        check(c.wait_stream(1, ANSWER_S), "no answer: %s" % c.describe(1))
        st = c.http_status(1)
        check(st in ("200", "415"), "unexpected answer: %s" % c.describe(1))
        seen = ":status " + st
        if st == "200":
            check(c.grpc_status(1) == 0, "not OK: %s" % c.describe(1))
            seen += " OK"
        raw_get_feature(c, 3)
        return seen + ", then served"
    finally:
        c.close()


@case("missing_te_trailers")
def _(srv):
    # grpc's PROTOCOL-HTTP2.md requires `te: trailers` (to detect broken
    # proxies); grpc-go and nghttp2 accept a request without it, grpc C++
    # rejects it. Served or refused with a well-formed answer are both fine.
    c = open_conn(srv)
    try:
        c.request(1, request_headers(drop=("te",)), grpc_frame(point()))
        check(c.wait_stream(1, ANSWER_S), "no answer: %s" % c.describe(1))
        check(c.goaway is None, "connection ended: %s" % c.describe())
        if 1 in c.rst:
            seen = "RST_STREAM %s" % error_name(c.rst[1])
        else:
            seen = ":status %s grpc-status %s" % (
                c.http_status(1), grpc_name(c.grpc_status(1)))
            check(c.http_status(1) in ("200", "400"),
                  "unexpected answer: %s" % c.describe(1))
        raw_get_feature(c, 3)
        return seen + ", then served"
    finally:
        c.close()


@case("unknown_frame_type_ignored")
def _(srv):
    c = open_conn(srv)
    try:
        c.send(frame(0xFA, 0xFF, 0, b"hello") + frame(0xFB, 0, 1, b"x" * 100))
        raw_get_feature(c, 1)
        return "ignored, then served"
    finally:
        c.close()


# -- floods

def timed(srv, fn):
    cpu0 = srv.cpu()
    t0 = time.monotonic()
    out = fn()
    return out, srv.cpu() - cpu0, time.monotonic() - t0


def rapid_reset(srv, n, with_data, expect_goaway_after):
    """Opens n streams, each reset at once (HEADERS [+ DATA END_STREAM] +
    RST_STREAM CANCEL), in batches of 100 while reading."""
    c = open_conn(srv)
    try:
        body = data(1, grpc_frame(point()), True) if with_data else b""

        def attack():
            sent = 0
            for b in range(0, n, 100):
                chunk = bytearray()
                for i in range(b, min(n, b + 100)):
                    sid = 1 + 2 * i
                    chunk += headers(sid, HDR)
                    if with_data:
                        chunk += body[:5] + struct.pack(">I", sid) + \
                            body[9:]
                    chunk += rst(sid, CANCEL)
                if not c.send(bytes(chunk)):
                    break
                sent = min(n, b + 100)
                c.pump(0)
                if c.goaway is not None or c.closed:
                    break
            c.wait_goaway_or_close(ANSWER_S if expect_goaway_after else 0.5)
            return sent

        sent, cpu, wall = timed(srv, attack)
        return c, sent, cpu, wall
    except BaseException:
        c.close()
        raise


def rapid_reset_case(name, server, n, burst, rate):
    @case(name, server)
    def _(srv):
        c, sent, cpu, wall = rapid_reset(srv, n, True, True)
        try:
            check(c.goaway is not None,
                  "no GOAWAY after %d resets (limit %d): %s" % (
                      sent, burst, c.describe()))
            check(c.goaway[1] in (ENHANCE_YOUR_CALM, INTERNAL_ERROR),
                  "GOAWAY with %s" % error_name(c.goaway[1]))
            accepted = (c.goaway[0] + 1) // 2
            # The bucket refills `rate` per second while the attack runs.
            allowed = burst + rate * (int(wall) + 1) + 50
            check(accepted <= allowed,
                  "GOAWAY only after %d streams (burst %d, %d/s, %.1f s)" % (
                      accepted, burst, rate, wall))
            check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
            check(c.wait_closed(ANSWER_S), "still open after GOAWAY")
            return "GOAWAY %s after %d of %d resets, server CPU %.2f s" % (
                error_name(c.goaway[1]), accepted, sent, cpu)
        finally:
            c.close()


rapid_reset_case("rapid_reset", "default", 3000, 1000, 33)
rapid_reset_case("rapid_reset_strict", "strict", 1000, 100, 10)


@case("rapid_reset_below_threshold")
def _(srv):
    c, sent, cpu, wall = rapid_reset(srv, 500, True, False)
    try:
        check(c.goaway is None and not c.closed,
              "ended below the threshold: %s" % c.describe())
        raw_get_feature(c, 1 + 2 * 500)
        return "500 resets tolerated, then served; server CPU %.2f s" % cpu
    finally:
        c.close()


@case("rapid_reset_headers_only")
def _(srv):
    c, sent, cpu, wall = rapid_reset(srv, 3000, False, True)
    try:
        check(c.goaway is not None, "no GOAWAY: %s" % c.describe())
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        return "GOAWAY %s after %d, server CPU %.2f s" % (
            error_name(c.goaway[1]), (c.goaway[0] + 1) // 2, cpu)
    finally:
        c.close()


@case("made_you_reset")
def _(srv):
    """CVE-2025-8671 (MadeYouReset): the client makes the *server* reset
    each stream (a stream WINDOW_UPDATE overflow right after a complete,
    slow request), keeping within MAX_CONCURRENT_STREAMS. Like rapid
    reset, the server must stop this with GOAWAY past a threshold.
    nghttp2 1.52 counts only the client's RST_STREAMs (1.67 added a bucket
    for its own), so tern must count these itself."""
    n, batch = 3000, 50
    c = open_conn(srv)
    try:
        req = headers(1, encode_headers(request_headers(
            extra=[("x-delay-ms", "200")]))) + \
            data(1, grpc_frame(point()), True) + window_update(1, 0x7FFFFFFF)

        def one(sid):
            b = bytearray(req)
            for off in (0, len(req) - 13 - len(data(1, grpc_frame(point()))),
                        len(req) - 13):
                b[off + 5:off + 9] = struct.pack(">I", sid)
            return bytes(b)

        def attack():
            for b in range(0, n, batch):
                sids = [1 + 2 * i for i in range(b, b + batch)]
                if not c.send(b"".join(one(sid) for sid in sids)):
                    break
                c.wait(lambda: all(sid in c.rst for sid in sids) or
                       c.goaway is not None, ANSWER_S)
                if c.goaway is not None or c.closed:
                    break
        _, cpu, wall = timed(srv, attack)
        resets = sum(1 for v in c.rst.values() if v == FLOW_CONTROL_ERROR)
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        check(c.goaway is not None,
              "LIBRARY GAP: no GOAWAY after %d server-provoked resets in "
              "%.1f s (server CPU %.2f s); rapid reset past the limit gets "
              "one" % (resets, wall, cpu))
        check(c.goaway[1] in (ENHANCE_YOUR_CALM, INTERNAL_ERROR),
              "GOAWAY %s" % error_name(c.goaway[1]))
        return "GOAWAY %s after %d server resets, CPU %.2f s" % (
            error_name(c.goaway[1]), resets, cpu)
    finally:
        c.close()


def _continuation_flood(srv, piece, n):
    c = open_conn(srv)
    try:
        def attack():
            c.send(headers(1, PART1, end_headers=False))
            for b in range(0, n, 500):
                if not c.send(continuation(1, piece) * 500):
                    break
                c.pump(0)
                if c.closed or c.goaway is not None:
                    break
            c.wait_goaway_or_close(ANSWER_S)
        _, cpu, wall = timed(srv, attack)
        check(c.goaway is not None or c.closed,
              "still open after %d CONTINUATIONs" % n)
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        check(c.wait_closed(ANSWER_S), "not closed: %s" % c.describe())
        check(c.goaway is not None,
              "WRONG ANSWER (library): closed without a GOAWAY (expected "
              "ENHANCE_YOUR_CALM or PROTOCOL_ERROR; nghttp2 returns "
              "NGHTTP2_ERR_TOO_MANY_CONTINUATIONS and tern closes without "
              "submitting one); server CPU %.2f s" % cpu)
        check(c.goaway[1] in (ENHANCE_YOUR_CALM, PROTOCOL_ERROR,
                              COMPRESSION_ERROR, INTERNAL_ERROR),
              "unexpected %s" % c.describe())
        return "GOAWAY %s, server CPU %.2f s" % (error_name(c.goaway[1]), cpu)
    finally:
        c.close()


@case("continuation_flood")
def _(srv):
    return _continuation_flood(srv, literal("x-c", "v" * 100), 20000)


@case("continuation_flood_empty_frames")
def _(srv):
    return _continuation_flood(srv, b"", 20000)


@case("continuation_flood_huge_header")
def _(srv):
    # One header value spread over many CONTINUATIONs (never ends).
    c = open_conn(srv)
    try:
        def attack():
            c.send(headers(1, PART1 + b"\x00\x03x-h" + hpack_int(1 << 30, 7),
                           end_headers=False))
            for _ in range(200):
                if not c.send(continuation(1, b"v" * 16384)):
                    break
                c.pump(0)
                if c.closed or c.goaway is not None:
                    break
            c.wait_goaway_or_close(ANSWER_S)
        _, cpu, _ = timed(srv, attack)
        check(c.goaway is not None or c.closed, "still open")
        check(c.wait_closed(ANSWER_S), "not closed: %s" % c.describe())
        return "%s, server CPU %.2f s" % (
            "GOAWAY " + error_name(c.goaway[1]) if c.goaway else
            "closed without GOAWAY", cpu)
    finally:
        c.close()


def _hpack_bomb_block(refs):
    # 4000-byte value added to the dynamic table, then referenced `refs`
    # times by one-byte indexed fields (dynamic index 1 = 62).
    return HDR + literal("x-bomb", "b" * 4000, index=True) + \
        indexed(62) * refs


@case("hpack_bomb")
def _(srv):
    c = open_conn(srv)
    try:
        refs = 16384 - len(HDR) - 4100
        block = _hpack_bomb_block(refs)
        _, cpu, _ = timed(srv, lambda: (
            c.send(headers(1, block) + data(1, grpc_frame(point()), True)),
            c.wait_stream(1, ANSWER_S)))
        seen = expect_grpc(c, 1, 8)
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        raw_get_feature(c, 3)
        return "%s (%d refs, ~%d MiB decoded), CPU %.2f s, then served" % (
            seen, refs, refs * 4038 >> 20, cpu)
    finally:
        c.close()


@case("hpack_bomb_with_continuations")
def _(srv):
    c = open_conn(srv)
    try:
        refs = 7 * 16384
        block = _hpack_bomb_block(refs)
        frames = headers(1, block[:16384], end_headers=False)
        rest = block[16384:]
        while rest:
            piece, rest = rest[:16384], rest[16384:]
            frames += continuation(1, piece, end_headers=not rest)
        _, cpu, _ = timed(srv, lambda: (
            c.send(frames + data(1, grpc_frame(point()), True)),
            c.wait_stream(1, ANSWER_S)))
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        if c.goaway is not None:
            return expect_goaway(c, [ENHANCE_YOUR_CALM, PROTOCOL_ERROR,
                                     COMPRESSION_ERROR]) + \
                ", CPU %.2f s" % cpu
        seen = expect_grpc(c, 1, 8)
        raw_get_feature(c, 3)
        return "%s (%d refs, ~%d MiB decoded), CPU %.2f s, then served" % (
            seen, refs, refs * 4038 >> 20, cpu)
    finally:
        c.close()


def _unread_flood(srv, unit_fn, n, what, replies_of):
    """Sends up to n units (unit_fn(i) gives 1000 of them from unit i) on a
    connection with a tiny receive buffer that reads nothing meanwhile: a
    server that queues a reply to each must not do so without bound. It
    may close the connection (flood detected) or stop reading (TCP
    pushes back); it must not buffer the replies in its own memory.
    Afterwards we read what came."""
    # Live heap; under a sanitizer (no heap probe), RSS.
    mem = (lambda: srv.rss() << 10) if srv.sanitized else srv.heap
    heap0 = mem()
    c = Conn(srv.port, rcvbuf=4096, auto_ack=False)
    try:
        c.send(PREFACE + settings())
        c.sock.settimeout(2.0)
        stalled = False

        def attack():
            nonlocal stalled
            sent = 0
            t_end = time.monotonic() + 15.0
            while sent < n and time.monotonic() < t_end:
                if not c.send(unit_fn(sent)):
                    stalled = "timed out" in (c.close_reason or "")
                    break
                sent += 1000
            return sent
        sent, cpu, _ = timed(srv, attack)
        heap_mid = mem()
        grown = heap_mid - heap0
        # Read for a while; the server may have closed the connection.
        c.send_failed = False
        c.sock.settimeout(5.0)
        c.wait(lambda: False, 2.0)
        replies = replies_of(c)
        if c.goaway is not None:
            how = "GOAWAY %s" % error_name(c.goaway[1])
        elif c.closed:
            how = "closed"
        elif stalled:
            how = "stopped reading (TCP backpressure)"
        else:
            how = "still open"
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        check(replies <= sent + 1, "%d replies for %d %s" % (replies, sent,
                                                             what))
        check(c.goaway is None or c.goaway[1] == ENHANCE_YOUR_CALM,
              "unexpected GOAWAY: %s" % c.describe())
        check(srv.sanitized or grown < FLOOD_HEAP_MAX,
              "LIBRARY BUG: server heap grew %d MiB during %d unread %s "
              "(%s): replies are queued without bound" % (
                  grown >> 20, sent, what, how))
        check(how != "still open",
              "LIBRARY BUG: all %d %s taken while their replies could not "
              "be sent, and the connection is still open (memory %+d MiB): "
              "replies are queued without bound" % (sent, what,
                                                    grown >> 20))
        return "%s after %d %s; %d replies read; heap %+d KiB at the " \
            "peak; CPU %.2f s" % (how, sent, what, replies, grown >> 10, cpu)
    finally:
        c.close()


@case("settings_flood_unread")
def _(srv):
    return _unread_flood(srv, lambda i: settings() * 1000, 400000,
                         "SETTINGS", lambda c: c.settings_acks)


@case("ping_flood_unread")
def _(srv):
    return _unread_flood(srv, lambda i: ping(b"12345678") * 1000, 400000,
                         "PINGs", lambda c: c.ping_acks)


_BAD_REQUEST = headers(1, encode_headers(request_headers(
    extra=[("X-Upper", "v")])), end_stream=True)


def _bad_requests(first):
    """1000 malformed requests (an upper-case header name), stream ids
    going up from unit `first`: each makes the server send RST_STREAM."""
    return b"".join(_BAD_REQUEST[:5] + struct.pack(">I", 1 + 2 * i) +
                    _BAD_REQUEST[9:] for i in range(first, first + 1000))


@case("reset_provoking_flood_unread")
def _(srv):
    # CVE-2019-9514 (reset flood): replies are RST_STREAMs.
    return _unread_flood(srv, _bad_requests, 1000000, "malformed requests",
                         lambda c: len(c.rst))


def _read_flood(srv, unit_fn, n, what, acks_of):
    """n frames that each get an ACK, sent in bursts of 1000 by a client
    that reads everything. Answers: every one acked once, or GOAWAY
    ENHANCE_YOUR_CALM (the flood limit) then close."""
    c = open_conn(srv)
    try:
        base = acks_of(c)

        def attack():
            for b in range(0, n, 1000):
                if not c.send(unit_fn(b)):
                    break
                c.pump(0)
                if c.closed or c.goaway is not None:
                    break
            c.wait(lambda: acks_of(c) - base >= n or c.goaway is not None,
                   ANSWER_S)
        _, cpu, _ = timed(srv, attack)
        acks = acks_of(c) - base
        check(acks <= n, "%d acks for %d %s" % (acks, n, what))
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        if c.goaway is None and c.closed:
            raise Fail("WRONG ANSWER (library): closed without GOAWAY "
                       "ENHANCE_YOUR_CALM after %d of %d %s acked (nghttp2 "
                       "returns NGHTTP2_ERR_FLOODED; tern closes without "
                       "submitting a GOAWAY)" % (acks, n, what))
        if c.goaway is not None:
            check(c.goaway[1] == ENHANCE_YOUR_CALM, c.describe())
            check(c.wait_closed(ANSWER_S), "still open after GOAWAY")
            return "GOAWAY ENHANCE_YOUR_CALM after %d %s acked" % (acks,
                                                                  what)
        check(acks == n, "%d acks for %d %s" % (acks, n, what))
        raw_get_feature(c, 1)
        return "every one of %d %s acked once, CPU %.2f s, then served" % (
            n, what, cpu)
    finally:
        c.close()


@case("ping_flood_read")
def _(srv):
    return _read_flood(srv, lambda b: ping(b"abcdefgh") * 1000, 20000,
                       "PINGs", lambda c: c.ping_acks)


@case("settings_flood_read")
def _(srv):
    return _read_flood(
        srv, lambda b: settings([(INITIAL_WINDOW_SIZE, 65535 + b)]) * 1000,
        20000, "SETTINGS", lambda c: c.settings_acks)


@case("empty_data_frame_flood")
def _(srv):
    # CVE-2019-9518: empty frames cost the server work but carry nothing.
    c = open_conn(srv)
    try:
        open_stream(c, 1)
        n = 100000

        def attack():
            for b in range(0, n, 5000):
                if not c.send(data(1, b"") * 5000):
                    break
                c.pump(0)
                if c.closed or c.goaway is not None:
                    break
            c.send(data(1, grpc_frame(point()), True))
            c.wait_stream(1, ANSWER_S)
        _, cpu, _ = timed(srv, attack)
        check(cpu < CPU_BOUND_S, "server CPU %.2f s" % cpu)
        if c.goaway is not None:
            return expect_goaway(c, [ENHANCE_YOUR_CALM, PROTOCOL_ERROR]) + \
                ", CPU %.2f s" % cpu
        seen = expect_grpc(c, 1, 0)
        return "%d empty DATA then the request: %s, CPU %.2f s" % (n, seen,
                                                                    cpu)
    finally:
        c.close()


@case("zero_window_reader")
def _(srv):
    # The client opens no window (INITIAL_WINDOW_SIZE 0) and asks for
    # server-streaming responses it will never take; then disappears.
    c = open_conn(srv, entries=[(INITIAL_WINDOW_SIZE, 0)])
    try:
        rect = b"\x0a" + varint(len(point(400000000, -750000000))) + \
            point(400000000, -750000000) + b"\x12" + \
            varint(len(point(420000000, -730000000))) + \
            point(420000000, -730000000)
        for i in range(50):
            c.request(1 + 2 * i, request_headers(path=LIST_FEATURES),
                      grpc_frame(rect))
        c.wait(lambda: all(1 + 2 * i in c.headers for i in range(50)), 3.0)
        got = sum(1 for i in range(50) if c.body.get(1 + 2 * i))
        check(got == 0, "%d streams got DATA through a zero window" % got)
        grpcio_get_feature(srv.port)
        return "50 stalled streams, no DATA sent, others still served"
    finally:
        c.close()


@case("slow_partial_frame", "strict")
def _(srv):
    # Half a frame, then silence: the idle limit (3 s) ends it.
    c = open_conn(srv)
    try:
        c.send(frame(PING, 0, 0, b"\0" * 8)[:5])
        t0 = time.monotonic()
        seen = expect_goaway(c, [NO_ERROR], timeout=8.0,
                             allow_plain_close=True)
        return "%s after %.1f s" % (seen, time.monotonic() - t0)
    finally:
        c.close()


@case("idle_connection_goaway", "strict")
def _(srv):
    c = open_conn(srv)
    try:
        raw_get_feature(c, 1)
        t0 = time.monotonic()
        seen = expect_goaway(c, [NO_ERROR], timeout=8.0)
        return "served, then %s after %.1f s idle" % (
            seen, time.monotonic() - t0)
    finally:
        c.close()


# -- thousands of idle or half-open connections

def idle_count():
    """2000 of each kind, or fewer when the descriptor limit (ours, which
    the server inherits) is too low for 2 x that plus some room."""
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return max(50, min(2000, (soft - 300) // 2))


def _open_many(port, n, send=b"", batch=250, srv=None, abort=False):
    """n connections; `send` written on each. abort: closing them sends
    RST (SO_LINGER 0) instead of FIN."""
    socks = []
    try:
        for b in range(0, n, batch):
            for _ in range(min(batch, n - b)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                if abort:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
                s.settimeout(5.0)
                s.connect(("127.0.0.1", port))
                if send:
                    s.sendall(send)
                socks.append(s)
            if srv is not None:  # let the server's accept loop keep up
                target = srv.base_fds + len(socks) - 50
                deadline = time.monotonic() + 3.0
                while srv.fds() < target and time.monotonic() < deadline:
                    time.sleep(0.01)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def _closed_by_peer(s):
    s.setblocking(False)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except BlockingIOError:
        return False
    except OSError:
        return True


@case("thousands_of_idle_connections", heavy=True)
def _(srv):
    # Half never send the preface (closed with RST), half send only the
    # preface (closed with FIN). The default handshake timeout is 20 s:
    # we close them ourselves.
    n = idle_count()
    socks = _open_many(srv.port, n, srv=srv, abort=True)
    socks += _open_many(srv.port, n, PREFACE, srv=srv)
    try:
        deadline = time.monotonic() + FD_SETTLE_S
        while srv.fds() < srv.base_fds + 2 * n and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        held = srv.fds() - srv.base_fds
        check(held >= 2 * n, "server holds only %d of %d" % (held, 2 * n))
        rss_held = srv.rss() - srv.base_rss
        grpcio_get_feature(srv.port)
        return ("%d without preface + %d preface only held (+%d KiB RSS); "
                "grpcio served meanwhile; we close them" % (n, n, rss_held))
    finally:
        for s in socks:
            s.close()


@case("thousands_of_idle_connections_handshake_timeout", "strict",
      heavy=True)
def _(srv):
    n = idle_count()
    t0 = time.monotonic()
    socks = _open_many(srv.port, n, srv=srv)
    socks += _open_many(srv.port, n, PREFACE, srv=srv)
    try:
        grpcio_get_feature(srv.port)
        deadline = time.monotonic() + 10.0
        closed = 0
        while time.monotonic() < deadline:
            closed = sum(1 for s in socks if s.fileno() < 0 or
                         _closed_by_peer(s))
            if closed == len(socks):
                break
            time.sleep(0.2)
        took = time.monotonic() - t0
        check(closed == len(socks),
              "the server closed only %d of %d within 10 s" % (
                  closed, len(socks)))
        return "the server closed all %d itself within %.1f s " \
               "(handshake timeout 1 s)" % (len(socks), took)
    finally:
        for s in socks:
            s.close()


@case("thousands_of_half_open_streams", heavy=True)
def _(srv):
    # 100 connections x 100 streams (the limit), each request's HEADERS
    # sent and the body never: 10000 server calls waiting.
    conns = []
    try:
        for i in range(100):
            c = open_conn(srv)
            conns.append(c)
            c.send(b"".join(headers(1 + 2 * j, HDR) for j in range(100)))
        for c in conns:
            c.pump(0.01)
        bad = [c.describe() for c in conns if c.goaway or c.closed or c.rst]
        check(not bad, "refused: %s" % bad[:1])
        time.sleep(0.5)
        rss_held = srv.rss() - srv.base_rss
        grpcio_get_feature(srv.port)
        return "10000 open streams held (+%d KiB RSS); grpcio served " \
               "meanwhile; we close them" % rss_held
    finally:
        for c in conns:
            c.close()


# --- runner -------------------------------------------------------------------

def settle(srv):
    """Descriptors back to the baseline; live heap (after malloc_trim) and
    RSS back near theirs. Returns (fds, rss before trim, heap, rss)."""
    deadline = time.monotonic() + FD_SETTLE_S
    fds = srv.fds()
    while fds > srv.base_fds and time.monotonic() < deadline:
        time.sleep(0.05)
        fds = srv.fds()
    check(srv.alive(), "server died: %s" % srv.exit_desc())
    check(fds <= srv.base_fds, "server descriptors %d, baseline %d" % (
        fds, srv.base_fds))
    raw_rss = srv.rss()
    if srv.sanitized:
        # ASan/TSan own the allocator (quarantine, shadow memory): only a
        # gross bound; their leak checker runs when the server exits.
        check(raw_rss <= srv.base_rss + SANITIZED_RSS_SLACK_KIB,
              "server RSS %d KiB, baseline %d KiB" % (raw_rss, srv.base_rss))
        return fds, raw_rss, srv.base_heap, raw_rss
    check(raw_rss <= srv.base_rss + RSS_RAW_SLACK_KIB,
          "server RSS %d KiB before trimming, baseline %d KiB" % (
              raw_rss, srv.base_rss))
    deadline = time.monotonic() + 3.0
    heap = srv.heap()
    while heap > srv.base_heap + HEAP_SLACK and time.monotonic() < deadline:
        time.sleep(0.1)
        heap = srv.heap()
    check(heap >= 0, "the server did not report its heap")
    check(heap <= srv.base_heap + HEAP_SLACK,
          "server heap in use %d bytes, baseline %d (+%d > +%d allowed)" % (
              heap, srv.base_heap, heap - srv.base_heap, HEAP_SLACK))
    rss = srv.rss()
    check(rss <= srv.base_rss + RSS_SLACK_KIB,
          "server RSS %d KiB after trimming, baseline %d KiB (+%d > +%d "
          "allowed)" % (rss, srv.base_rss, rss - srv.base_rss,
                        RSS_SLACK_KIB))
    return fds, raw_rss, heap, rss


def warm_up(srv):
    for _ in range(3):
        grpcio_get_feature(srv.port)
    c = open_conn(srv)
    raw_get_feature(c, 1)
    c.close()
    time.sleep(0.3)
    srv.base_fds = srv.fds()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        time.sleep(0.1)
        n = srv.fds()
        if n == srv.base_fds:
            break
        srv.base_fds = n
    srv.base_heap = srv.heap()
    srv.base_rss = srv.rss()
    if srv.base_heap < 0:
        raise RuntimeError("%s server does not answer SIGUSR2" % srv.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--server", help="path of hostile_target")
    ap.add_argument("--db", help="route_guide_db.json")
    ap.add_argument("--case", action="append", default=[])
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run the selected cases N times (leak hunting)")
    args = ap.parse_args()

    if args.list:
        for name, server, _, _ in CASES:
            print("%s (%s)" % (name, server))
        return 0
    if not args.server:
        ap.error("--server is required")
    selected = [c for c in CASES if not args.case or c[0] in args.case]
    unknown = set(args.case) - {c[0] for c in CASES}
    if unknown:
        ap.error("unknown case(s): %s" % ", ".join(sorted(unknown)))

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 16384):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 16384), hard))

    extra = ["--db", args.db] if args.db else []
    servers = {}
    passed = failed = 0
    t_start = time.monotonic()
    try:
        servers["default"] = Server("default", [args.server, "--port", "0"]
                                    + extra)
        servers["strict"] = Server("strict", [args.server, "--port", "0"] +
                                   extra + STRICT_ARGS)
        for srv in servers.values():
            warm_up(srv)
            say("# %s server pid %d port %d: %d fds, heap %d B, RSS %d KiB"
                % (srv.name, srv.pid, srv.port, srv.base_fds, srv.base_heap,
                   srv.base_rss))
        for rep in range(args.repeat):
            for name, server, heavy, fn in selected:
                srv = servers[server]
                label = name if args.repeat == 1 else "%s#%d" % (name, rep)
                t0 = time.monotonic()
                try:
                    check(srv.alive(), "server not running: %s" %
                          srv.exit_desc())
                    seen = fn(srv)
                    check(srv.alive(), "server died: %s" % srv.exit_desc())
                    grpcio_get_feature(srv.port)
                    fds, raw_rss, heap, rss = settle(srv)
                    say("PASS %s  [%s; %.1f s; fds %d, heap %+d B, RSS "
                        "%+d KiB (%+d before trim)]" % (
                            label, seen, time.monotonic() - t0, fds,
                            heap - srv.base_heap, rss - srv.base_rss,
                            raw_rss - srv.base_rss))
                    passed += 1
                except Fail as e:
                    why = str(e)
                    # A server that just crashed may not be reaped yet.
                    try:
                        srv.p.wait(0.5)
                    except subprocess.TimeoutExpired:
                        pass
                    if not srv.alive():
                        why = "LIBRARY BUG: the server died (%s): %s; " \
                            "stderr: %s" % (srv.exit_desc(), why, " | ".join(
                                srv.stderr_lines[-6:]))
                    say("FAIL %s: %s" % (label, why))
                    failed += 1
                except Exception as e:  # a bug in the test itself
                    say("FAIL %s: test error %s: %s" % (
                        label, type(e).__name__, e))
                    traceback.print_exc(file=sys.stdout)
                    failed += 1
                if not srv.alive():
                    say("# %s server is gone (%s); restarting it" % (
                        srv.name, srv.exit_desc()))
                    for line in srv.stderr_lines[-10:]:
                        say("#   " + line)
                    srv = servers[server] = Server(
                        server, srv.argv)
                    warm_up(srv)
    finally:
        for srv in servers.values():
            rc = srv.stop()
            if rc != 0:
                say("FAIL %s_server_exit: after SIGTERM: %s" % (
                    srv.name, "hung, killed" if rc is None else
                    srv.exit_desc()))
                failed += 1
    say("# %.1f s" % (time.monotonic() - t_start))
    say("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1




if __name__ == "__main__":
    sys.exit(main())
