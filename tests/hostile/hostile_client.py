#!/usr/bin/python3
"""Hostile HTTP/2 servers against tern's client (hostile_client_target).

  hostile_client.py --client build/tests/hostile/hostile_client_target
                    [--case NAME]... [--list]

Each case starts a raw HTTP/2 server on 127.0.0.1 (hand-built frames, see
h2raw.py) that misbehaves in one way, runs hostile_client_target against
it (calls with a deadline), and checks that every call ended with an
expected status within its deadline (plus slack), that the client exited
by itself (no crash, no hang), released every descriptor it opened and
kept its peak RSS bounded, and, where the protocol asks for one, that the
client answered the misbehaviour (GOAWAY with the right code, RST_STREAM
CANCEL at the deadline).

Prints `PASS name` (with what was seen) or `FAIL name: why` per case and
`N passed, N failed`; exit status 0 only when all passed.
"""

import argparse
import gzip
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from h2raw import *  # noqa: E402,F401,F403

DEADLINE_MS = 1500          # per call, unless a case says otherwise
DEADLINE_SLACK_MS = 1500    # a call must end within deadline + this
PEAK_RSS_MAX_KIB = 64 * 1024  # the client's VmHWM
CASE_LIFETIME_S = 30        # a hostile connection handler gives up after


class Fail(Exception):
    pass


def check(cond, why):
    if not cond:
        raise Fail(why)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- the hostile server ---------------------------------------------------------

class HostileServer:
    """Accepts connections on 127.0.0.1 and runs behaviour(peer, self) for
    each on its own thread. peer is an h2raw.Conn (server side) or, for
    behaviours that want bytes only, its socket is used directly."""

    MAX_CONNS = 32

    def __init__(self, behaviour, rcvbuf=None):
        self.behaviour = behaviour
        self.rcvbuf = rcvbuf
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.lsock.settimeout(0.1)
        self.port = self.lsock.getsockname()[1]
        self.stop = threading.Event()
        self.peers = []
        self.errors = []
        self.threads = []
        self.accepts = 0
        self.t = threading.Thread(target=self._accept_loop, daemon=True)
        self.t.start()

    def _accept_loop(self):
        while not self.stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepts += 1
            if len(self.peers) >= self.MAX_CONNS:
                s.close()
                continue
            peer = Conn(sock=s, server_side=True, timeout=5.0)
            self.peers.append(peer)
            t = threading.Thread(target=self._run, args=(peer,), daemon=True)
            self.threads.append(t)
            t.start()

    def _run(self, peer):
        try:
            self.behaviour(peer, self)
        except Exception as e:  # a bug in the behaviour, or the peer left
            self.errors.append("%s: %s" % (type(e).__name__, e))
        finally:
            # Keep the socket open until the client leaves or we stop, so
            # that closing is the client's decision where it should be.
            deadline = time.monotonic() + CASE_LIFETIME_S
            while not peer.closed and not self.stop.is_set() and \
                    time.monotonic() < deadline:
                peer.pump(0.05)
            peer.close()

    def close(self):
        self.stop.set()
        try:
            self.lsock.close()
        except OSError:
            pass
        self.t.join(2)
        for t in self.threads:
            t.join(2)

    def alive(self, peer):
        return not self.stop.is_set() and not peer.closed

    def client_goaways(self):
        return [p.goaway for p in self.peers if p.goaway is not None]

    def client_resets(self):
        out = {}
        for p in self.peers:
            out.update(p.rst)
        return out


# --- behaviour helpers ------------------------------------------------------------

OK_HEADERS = encode_headers([(":status", "200"),
                             ("content-type", "application/grpc")])


def trailers_block(code=0, message=None, extra=()):
    t = [("grpc-status", str(code))]
    if message:
        t.append(("grpc-message", message))
    return encode_headers(t + list(extra))


def good_response(sid):
    return headers(sid, OK_HEADERS) + \
        data(sid, grpc_frame(response_payload())) + \
        headers(sid, trailers_block(0), end_stream=True)


def serve(respond, on_headers=None, settings_entries=()):
    """A behaviour: an HTTP/2 server that calls respond(peer, sid) once per
    request whose body ended (and on_headers(peer, sid) once per request
    whose headers arrived, if given)."""
    def run(peer, hs):
        peer.send(settings(settings_entries))
        done, seen = set(), set()
        deadline = time.monotonic() + CASE_LIFETIME_S
        while hs.alive(peer) and time.monotonic() < deadline:
            peer.pump(0.05)
            if peer.bad_preface:
                return
            for sid in sorted(peer.headers):
                if on_headers and sid not in seen:
                    seen.add(sid)
                    on_headers(peer, sid)
                if sid in peer.ended and sid not in done:
                    done.add(sid)
                    respond(peer, sid)
    return run


def raw(fn):
    """A behaviour that ignores HTTP/2: fn(sock, hs)."""
    def run(peer, hs):
        fn(peer.sock, hs)
    return run


def drain(sock, hs, seconds):
    """Reads and discards for up to `seconds`."""
    deadline = time.monotonic() + seconds
    sock.settimeout(0.05)
    while not hs.stop.is_set() and time.monotonic() < deadline:
        try:
            if not sock.recv(65536):
                return
        except socket.timeout:
            continue
        except OSError:
            return


# --- the client under test ----------------------------------------------------------

def run_client(client, port, calls, timeout_ms, method, extra=()):
    argv = [client, "--target", "127.0.0.1:%d" % port, "--calls",
            str(calls), "--timeout-ms", str(timeout_ms), "--method",
            method] + list(extra)
    limit = calls * (timeout_ms + DEADLINE_SLACK_MS) / 1000.0 + 10
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        out, err = p.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        stacks = ""
        try:
            stacks = subprocess.run(
                ["gdb", "-p", str(p.pid), "-batch", "-ex",
                 "thread apply all bt 8"], capture_output=True, timeout=20,
                text=True).stdout[-3000:]
        except (OSError, subprocess.TimeoutExpired):
            pass
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise Fail("LIBRARY BUG: client hung (killed after %.0f s)%s" % (
            limit, "\n" + stacks if stacks else ""))
    out = out.decode("utf-8", "replace")
    err = err.decode("utf-8", "replace")
    if p.returncode < 0:
        raise Fail("LIBRARY BUG: client killed by signal %s; stderr: %s" % (
            signal.Signals(-p.returncode).name, err[-1500:]))
    check(p.returncode == 0, "client exited %d: %s" % (p.returncode,
                                                       err[-800:]))
    results, fds, peak = [], None, None
    for line in out.splitlines():
        parts = line.split(" ", 4)
        if parts[0] == "CALL":
            results.append((parts[2], int(parts[3]),
                            parts[4] if len(parts) > 4 else ""))
        elif parts[0] == "FDS":
            fds = (int(parts[1]), int(parts[2]))
        elif parts[0] == "PEAK_RSS_KIB":
            peak = int(parts[1])
    check(len(results) == calls, "client reported %d of %d calls: %s" % (
        len(results), calls, out[-800:]))
    return results, fds, peak


CASES = []


def case(name, behaviour, expect, calls=1, timeout_ms=DEADLINE_MS,
         method="get", min_ms=None, peer_check=None, rcvbuf=None,
         extra=(), why=None):
    """expect: the statuses every call may end with; why: the rule that
    makes it the right answer, shown when the status is wrong."""
    CASES.append((name, dict(behaviour=behaviour, expect=set(expect),
                             calls=calls, timeout_ms=timeout_ms,
                             method=method, min_ms=min_ms,
                             peer_check=peer_check, rcvbuf=rcvbuf,
                             extra=extra, why=why)))


def run_case(client, spec):
    hs = HostileServer(spec["behaviour"], rcvbuf=spec["rcvbuf"])
    try:
        results, fds, peak = run_client(client, hs.port, spec["calls"],
                                        spec["timeout_ms"], spec["method"],
                                        spec["extra"])
        # Let the server threads see what the client sent last.
        time.sleep(0.1)
        for status, ms, msg in results:
            check(status in spec["expect"],
                  "%sexpected %s, got %s %r%s" % (
                      "WRONG ANSWER (library): " if spec["why"] else "",
                      "/".join(sorted(spec["expect"])), status, msg,
                      " -- " + spec["why"] if spec["why"] else ""))
            check(ms <= spec["timeout_ms"] + DEADLINE_SLACK_MS,
                  "%s after %d ms (deadline %d ms)" % (status, ms,
                                                       spec["timeout_ms"]))
            if spec["min_ms"] is not None:
                check(ms >= spec["min_ms"], "%s after only %d ms" % (status,
                                                                     ms))
        check(fds is not None and fds[1] <= fds[0],
              "client descriptors %s before/after the channel" % (fds,))
        check(peak is not None and peak < PEAK_RSS_MAX_KIB,
              "client peak RSS %s KiB" % peak)
        seen = ", ".join(sorted({"%s %r" % (s, m[:60]) for s, _, m in
                                 results}))
        if spec["peer_check"]:
            extra = spec["peer_check"](hs)
            if extra:
                seen += "; " + extra
        return "%s; max %d ms; fds %d/%d; peak RSS %d KiB" % (
            seen, max(ms for _, ms, _ in results), fds[0], fds[1], peak)
    finally:
        hs.close()


def client_sent_goaway(*codes):
    def chk(hs):
        gs = hs.client_goaways()
        check(gs, "the client sent no GOAWAY (expected %s)" % "/".join(
            error_name(c) for c in codes))
        check(all(g[1] in codes for g in gs),
              "the client's GOAWAY: %s" % ", ".join(error_name(g[1])
                                                    for g in gs))
        return "client GOAWAY %s" % error_name(gs[0][1])
    return chk


def client_cancelled(hs):
    # Every call but the last: the client may exit (closing the
    # connection) before the last call's RST_STREAM leaves.
    rs = hs.client_resets()
    check(rs and all(v == CANCEL for v in rs.values()),
          "expected RST_STREAM CANCEL from the client at the deadline, "
          "saw %s" % {k: error_name(v) for k, v in rs.items()})
    return "client RST_STREAM CANCEL"


# --- cases --------------------------------------------------------------------------

# Not HTTP/2, or nothing at all

def _garbage(sock, hs):
    rnd = random.Random(7)
    sock.sendall(bytes(rnd.randrange(256) for _ in range(512)))
    drain(sock, hs, 5)


case("garbage_bytes", raw(_garbage), ["UNAVAILABLE"], calls=2)


def _http1(sock, hs):
    sock.settimeout(2)
    try:
        sock.recv(65536)
    except OSError:
        pass
    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                 b"Content-Length: 11\r\nConnection: close\r\n\r\n"
                 b"bad request")
    drain(sock, hs, 1)


case("http1_response", raw(_http1), ["UNAVAILABLE"], calls=2)


def _http1_immediately(sock, hs):
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    drain(sock, hs, 5)


case("http1_response_before_request", raw(_http1_immediately),
     ["UNAVAILABLE"])
case("close_on_accept", raw(lambda sock, hs: None), ["UNAVAILABLE"],
     calls=2)
case("silent_tcp_server", raw(lambda sock, hs: drain(sock, hs, 30)),
     ["DEADLINE_EXCEEDED"], min_ms=DEADLINE_MS - 100)
case("never_answers_request", serve(lambda peer, sid: None),
     ["DEADLINE_EXCEEDED"], calls=2, min_ms=DEADLINE_MS - 100,
     peer_check=client_cancelled)
case("headers_then_nothing",
     serve(lambda peer, sid: peer.send(headers(sid, OK_HEADERS))),
     ["DEADLINE_EXCEEDED"], calls=2, min_ms=DEADLINE_MS - 100,
     peer_check=client_cancelled)


def _slow_drip(peer, sid):
    whole = good_response(sid)
    for i in range(len(whole)):
        if peer.closed:
            return
        peer.send(whole[i:i + 1])
        time.sleep(0.1)
        peer.pump(0)
        if sid in peer.rst:
            return


case("slow_drip_response", serve(_slow_drip), ["DEADLINE_EXCEEDED"],
     calls=2, min_ms=DEADLINE_MS - 100, peer_check=client_cancelled)

# Oversized headers


def _big_headers(size, where="headers"):
    def respond(peer, sid):
        big = [("x-big-%d" % i, "v" * 8000) for i in range(size // 8000)]
        if where == "headers":
            peer.send(header_frames(sid, encode_headers(
                [(":status", "200"), ("content-type", "application/grpc")] +
                big)))
            peer.send(data(sid, grpc_frame(response_payload())) +
                      headers(sid, trailers_block(0), end_stream=True))
        else:
            peer.send(headers(sid, OK_HEADERS) +
                      data(sid, grpc_frame(response_payload())) +
                      header_frames(sid, trailers_block(0, extra=big),
                                    end_stream=True))
    return serve(respond)


case("huge_response_headers_100k", _big_headers(100000),
     ["RESOURCE_EXHAUSTED"])
case("huge_response_trailers_100k", _big_headers(100000, "trailers"),
     ["RESOURCE_EXHAUSTED"])
case("huge_response_headers_1m", _big_headers(1000000),
     ["RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL"])


def _hpack_bomb(peer, sid):
    # One frame: 12000 one-byte references to a 4000-byte table entry,
    # ~46 MiB of header list.
    block = trailers_block(0) + literal("x-bomb", "b" * 4000, index=True) + \
        indexed(62) * 12000
    peer.send(headers(sid, OK_HEADERS) +
              data(sid, grpc_frame(response_payload())) +
              headers(sid, block, end_stream=True))


case("hpack_bomb_trailers", serve(_hpack_bomb), ["RESOURCE_EXHAUSTED"])


def _huge_grpc_message(peer, sid):
    peer.send(headers(sid, OK_HEADERS) + header_frames(
        sid, trailers_block(13, "m" * 30000), end_stream=True))


case("huge_grpc_message", serve(_huge_grpc_message),
     ["RESOURCE_EXHAUSTED", "INTERNAL"])

# Invalid HTTP/2 from the server: the client ends the connection


def _send_after_headers(extra_fn):
    def respond(peer, sid):
        peer.send(extra_fn(sid))
    return serve(respond)


case("invalid_hpack", _send_after_headers(lambda sid: headers(sid, b"\x80")),
     ["UNAVAILABLE", "INTERNAL"],
     peer_check=client_sent_goaway(COMPRESSION_ERROR))
case("window_update_overflow",
     _send_after_headers(lambda sid: window_update(0, 0x7FFFFFFF)),
     ["UNAVAILABLE", "INTERNAL"],
     peer_check=client_sent_goaway(FLOW_CONTROL_ERROR))
case("push_promise_when_disabled",
     _send_after_headers(lambda sid: frame(
         PUSH_PROMISE, END_HEADERS, sid, b"\0\0\0\x02" + encode_headers(
             request_headers()))),
     ["UNAVAILABLE", "INTERNAL"],
     peer_check=client_sent_goaway(PROTOCOL_ERROR))
case("data_on_stream_0",
     _send_after_headers(lambda sid: data(0, b"hello")),
     ["UNAVAILABLE", "INTERNAL"],
     peer_check=client_sent_goaway(PROTOCOL_ERROR))
case("rst_stream_on_idle_stream",
     _send_after_headers(lambda sid: rst(sid + 100, CANCEL)),
     ["UNAVAILABLE", "INTERNAL"],
     peer_check=client_sent_goaway(PROTOCOL_ERROR))
case("frame_over_max_frame_size",
     _send_after_headers(lambda sid: headers(sid, OK_HEADERS) +
                         data(sid, b"\0" * 20000)),
     ["UNAVAILABLE", "INTERNAL"],
     peer_check=client_sent_goaway(FRAME_SIZE_ERROR))
case("settings_initial_window_too_big",
     _send_after_headers(lambda sid: settings([(INITIAL_WINDOW_SIZE,
                                                0x80000000)])),
     ["UNAVAILABLE", "INTERNAL"],
     peer_check=client_sent_goaway(FLOW_CONTROL_ERROR))
case("data_after_end_stream",
     _send_after_headers(lambda sid: headers(
         sid, encode_headers([(":status", "200"),
                              ("content-type", "application/grpc"),
                              ("grpc-status", "5")]), end_stream=True) +
         data(sid, grpc_frame(response_payload()))),
     ["NOT_FOUND"])

# gRPC framing


def _message_then_trailers(body, hdrs=None, code=0):
    def respond(peer, sid):
        peer.send(headers(sid, encode_headers(hdrs) if hdrs else OK_HEADERS) +
                  data_frames(sid, body, end=False) +
                  headers(sid, trailers_block(code), end_stream=True))
    return serve(respond)


def _prefix_then_hang(length):
    def respond(peer, sid):
        peer.send(headers(sid, OK_HEADERS) +
                  data(sid, grpc_frame(b"\0" * 100, length=length)))
    return serve(respond)


case("length_prefix_4gib", _prefix_then_hang(0xFFFFFFFF),
     ["RESOURCE_EXHAUSTED"], calls=2)
case("length_prefix_over_4mib", _prefix_then_hang(4 * 1024 * 1024 + 1),
     ["RESOURCE_EXHAUSTED"])
case("message_of_5mib",
     _message_then_trailers(grpc_frame(b"\x0a" + varint(5 << 20) +
                                       b"n" * (5 << 20))),
     ["RESOURCE_EXHAUSTED"])
case("compressed_flag_without_encoding",
     _message_then_trailers(grpc_frame(response_payload(), compressed=True)),
     ["INTERNAL"])
case("compressed_unknown_encoding",
     _message_then_trailers(
         grpc_frame(response_payload(), compressed=True),
         hdrs=[(":status", "200"), ("content-type", "application/grpc"),
               ("grpc-encoding", "snappy")]),
     ["INTERNAL"])
case("compressed_corrupt_gzip",
     _message_then_trailers(
         grpc_frame(b"\x1f\x8b\x08\0corrupt-corrupt", compressed=True),
         hdrs=[(":status", "200"), ("content-type", "application/grpc"),
               ("grpc-encoding", "gzip")]),
     ["INTERNAL"])
case("gzip_bomb_64mib",
     _message_then_trailers(
         grpc_frame(gzip.compress(b"\0" * (64 << 20), 9), compressed=True),
         hdrs=[(":status", "200"), ("content-type", "application/grpc"),
               ("grpc-encoding", "gzip")]),
     ["RESOURCE_EXHAUSTED"])
case("truncated_message",
     _message_then_trailers(grpc_frame(b"\0" * 10, length=100)),
     ["INTERNAL"])
case("two_messages_on_unary",
     _message_then_trailers(grpc_frame(response_payload()) * 2),
     ["INTERNAL"],
     why="a unary response must carry exactly one message (grpc-go: "
     "'cardinality violation', grpc-java: 'More than one value received "
     "for unary call', both INTERNAL; tern's server answers INTERNAL to "
     "two request messages)")
case("no_message_on_unary", _message_then_trailers(b""),
     ["INTERNAL", "UNIMPLEMENTED"])
case("garbage_protobuf",
     _message_then_trailers(grpc_frame(b"\xff\xff\xff\xff")), ["INTERNAL"])

# Status and headers


def _respond_with(hdrs, body=b"", trailers=None):
    def respond(peer, sid):
        out = headers(sid, encode_headers(hdrs), end_stream=not body and
                      trailers is None)
        if body:
            out += data(sid, body, end=trailers is None)
        if trailers is not None:
            out += headers(sid, encode_headers(trailers), end_stream=True)
        peer.send(out)
    return serve(respond)


_MAPPING_WHY = (
    "a response that is not gRPC (:status not 200, or content-type not "
    "application/grpc) gets its status from the HTTP status "
    "(doc/http-grpc-status-mapping.md); its body is not gRPC framing and "
    "must not be parsed as such")
for _st, _want in [("503", "UNAVAILABLE"), ("404", "UNIMPLEMENTED"),
                   ("429", "UNAVAILABLE"), ("401", "UNAUTHENTICATED"),
                   ("403", "PERMISSION_DENIED"), ("400", "INTERNAL"),
                   ("500", "UNKNOWN")]:
    if _st in ("503", "404"):
        case("http_%s_html_body" % _st,
             _respond_with([(":status", _st), ("content-type", "text/html")],
                           b"<html>no</html>"), [_want], why=_MAPPING_WHY)
    case("http_%s_no_body" % _st,
         _respond_with([(":status", _st), ("content-type", "text/html")]),
         [_want], why=_MAPPING_WHY)
case("html_200_without_grpc_status",
     _respond_with([(":status", "200"), ("content-type", "text/html")],
                   b"<html>hello</html>"), ["UNKNOWN", "INTERNAL"],
     why=_MAPPING_WHY)
case("missing_trailers",
     _respond_with([(":status", "200"), ("content-type", "application/grpc")],
                   grpc_frame(response_payload())), ["UNKNOWN", "INTERNAL"])
case("grpc_status_not_a_number",
     _respond_with([(":status", "200"), ("content-type", "application/grpc")],
                   grpc_frame(response_payload()), [("grpc-status", "abc")]),
     ["UNKNOWN"])
case("grpc_status_out_of_range",
     _respond_with([(":status", "200"), ("content-type", "application/grpc")],
                   grpc_frame(response_payload()), [("grpc-status", "99")]),
     ["UNKNOWN"])
case("status_line_not_a_number",
     _respond_with([(":status", "2x0"), ("content-type", "application/grpc")],
                   grpc_frame(response_payload()), [("grpc-status", "0")]),
     ["UNAVAILABLE", "INTERNAL", "UNKNOWN"])

# RST_STREAM storms


def _rst_storm(code):
    def respond(peer, sid):
        # The stream's reset, repeated, and resets for every earlier
        # (closed) stream: only the first means anything.
        peer.send(rst(sid, code) * 50 +
                  b"".join(rst(s, code) for s in range(1, sid, 2)))
    return serve(respond)


case("rst_storm_internal_error", _rst_storm(INTERNAL_ERROR), ["INTERNAL"],
     calls=20)
case("rst_storm_refused_stream", _rst_storm(REFUSED_STREAM),
     ["UNAVAILABLE"], calls=20)
case("rst_storm_cancel", _rst_storm(CANCEL), ["CANCELLED"], calls=5)
case("rst_storm_enhance_your_calm", _rst_storm(ENHANCE_YOUR_CALM),
     ["RESOURCE_EXHAUSTED"], calls=5)


def _early_status(peer, sid):
    # Client-streaming: the server answers before the client has finished.
    peer.send(headers(sid, encode_headers(
        [(":status", "200"), ("content-type", "application/grpc"),
         ("grpc-status", "8"), ("grpc-message", "too much")]),
        end_stream=True) + rst(sid, NO_ERROR))


case("early_status_while_client_streams",
     serve(lambda peer, sid: None, on_headers=_early_status),
     ["RESOURCE_EXHAUSTED"], method="record")

# Floods from the server


def _flood(unit, n):
    def run(peer, hs):
        peer.send(settings())
        peer.sock.settimeout(2.0)
        for _ in range(0, n, 1000):
            if hs.stop.is_set() or not peer.send(unit * 1000):
                break
        # Never answers; reads nothing more until the client leaves.
        deadline = time.monotonic() + CASE_LIFETIME_S
        while hs.alive(peer) and time.monotonic() < deadline:
            time.sleep(0.05)
            peer.pump(0)
            if peer.closed:
                break
    return run


case("settings_flood", _flood(settings(), 200000),
     ["UNAVAILABLE", "DEADLINE_EXCEEDED"], calls=2, rcvbuf=4096)
case("ping_flood", _flood(ping(b"pingpong"), 200000),
     ["UNAVAILABLE", "DEADLINE_EXCEEDED"], calls=2, rcvbuf=4096)
case("empty_data_flood",
     serve(lambda peer, sid: peer.send(headers(sid, OK_HEADERS) +
                                       data(sid, b"") * 100000 +
                                       data(sid, grpc_frame(
                                           response_payload())) +
                                       headers(sid, trailers_block(0),
                                               end_stream=True))),
     ["OK"])

# GOAWAY


def _goaway_then(after, last=0, code=NO_ERROR):
    def respond(peer, sid):
        peer.send(goaway(last if last >= 0 else sid, code) + after(sid))
    return serve(respond)


case("goaway_then_response_anyway", _goaway_then(good_response, last=0),
     ["UNAVAILABLE"], calls=2)
case("goaway_then_garbage",
     _goaway_then(lambda sid: b"\xde\xad\xbe\xef" * 64, last=-1),
     ["UNAVAILABLE", "INTERNAL"], calls=2)
case("goaway_graceful_then_response", _goaway_then(good_response, last=-1),
     ["OK"], calls=3)
case("goaway_protocol_error", _goaway_then(lambda sid: b"", last=0,
                                           code=PROTOCOL_ERROR),
     ["UNAVAILABLE"], calls=2)
case("goaway_then_new_streams_data",
     _goaway_then(lambda sid: headers(sid + 2, OK_HEADERS) +
                  data(sid + 2, b"x"), last=-1),
     ["UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED"])

# A good server, to show the client and the harness are sound.
case("control_good_server", serve(lambda peer, sid: peer.send(
    good_response(sid))), ["OK"], calls=3)


# --- runner -------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--client", help="path of hostile_client_target")
    ap.add_argument("--case", action="append", default=[])
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    if args.list:
        for name, _ in CASES:
            print(name)
        return 0
    if not args.client:
        ap.error("--client is required")
    unknown = set(args.case) - {n for n, _ in CASES}
    if unknown:
        ap.error("unknown case(s): %s" % ", ".join(sorted(unknown)))
    passed = failed = 0
    t_start = time.monotonic()
    for name, spec in CASES:
        if args.case and name not in args.case:
            continue
        t0 = time.monotonic()
        try:
            seen = run_case(args.client, spec)
            say("PASS %s  [%s; %.1f s]" % (name, seen,
                                           time.monotonic() - t0))
            passed += 1
        except Fail as e:
            say("FAIL %s: %s" % (name, e))
            failed += 1
        except Exception as e:  # a bug in the test itself
            say("FAIL %s: test error %s: %s" % (name, type(e).__name__, e))
            failed += 1
    say("# %.1f s" % (time.monotonic() - t_start))
    say("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
