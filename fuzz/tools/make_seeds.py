#!/usr/bin/python3
"""Writes the seed corpora under fuzz/corpus/<target>/. Run from anywhere:

    /usr/bin/python3 fuzz/tools/make_seeds.py [--grpcio] [--plugin]

Without options it writes the hand-built seeds: HTTP/2 frame sequences
(HPACK by the hpack package that python3-h2 brings), gRPC framing, header
blocks and target strings. --grpcio also records real grpcio exchanges
(python3-grpcio): what a grpcio client sends a server (fuzz_server_conn)
and what a grpcio server answers (fuzz_client_conn). --plugin captures the
CodeGeneratorRequests protoc hands a plugin for the repository's protos
(fuzz_plugin). The seeds are checked in; this script only regenerates
them. Names are stable, so re-running rewrites the same files."""

import gzip
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import hpack

HERE = os.path.dirname(os.path.abspath(__file__))
FUZZ = os.path.dirname(HERE)
ROOT = os.path.dirname(FUZZ)
CORPUS = os.path.join(FUZZ, "corpus")

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- HTTP/2 ----------------------------------------------------------------

def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + \
        struct.pack(">I", stream) + payload


def settings(*pairs, ack=False):
    if ack:
        return frame(SETTINGS, ACK, 0)
    return frame(SETTINGS, 0, 0, b"".join(struct.pack(">HI", k, v)
                                          for k, v in pairs))


def msg(body, compressed=0):
    return bytes([compressed]) + struct.pack(">I", len(body)) + body


class Conn:
    """One direction of a connection: an HPACK encoder with its state."""

    def __init__(self, huffman=False):
        self.enc = hpack.Encoder()
        self.huffman = huffman

    def block(self, headers):
        return self.enc.encode(headers, huffman=self.huffman)

    def headers(self, stream, headers, end_stream=False, split=0):
        blk = self.block(headers)
        flags = END_STREAM if end_stream else 0
        if split and len(blk) > split:
            out = frame(HEADERS, flags, stream, blk[:split])
            rest = blk[split:]
            while rest:
                part, rest = rest[:split], rest[split:]
                out += frame(CONTINUATION, 0 if rest else END_HEADERS,
                             stream, part)
            return out
        return frame(HEADERS, flags | END_HEADERS, stream, blk)


def data(stream, payload, end_stream=False, pad=None):
    if pad is not None:
        return frame(DATA, PADDED | (END_STREAM if end_stream else 0), stream,
                     bytes([pad]) + payload + b"\0" * pad)
    return frame(DATA, END_STREAM if end_stream else 0, stream, payload)


def request(path, extra=(), authority="fuzz"):
    return [(":method", "POST"), (":scheme", "http"), (":path", path),
            (":authority", authority), ("content-type", "application/grpc"),
            ("te", "trailers")] + list(extra)


def gz(b):
    return gzip.compress(b)


def zl(b):
    return zlib.compress(b)


def server_conn_seeds():
    t = "fuzz_server_conn"
    hello = settings()
    ack = settings(ack=True)
    for svc in ("Inline", "Blocking"):
        base = "/fuzz.%s/" % svc
        s = svc.lower()

        c = Conn()
        write(t, "%s_unary" % s, hello + ack + c.headers(
            1, request(base + "Unary")) + data(1, msg(b"\x00hello"), True))

        c = Conn()
        write(t, "%s_unary_ops" % s, hello + ack + c.headers(1, request(
            base + "Unary", [("x-a", "b"), ("x-b-bin", "AAEC"),
                             ("grpc-accept-encoding", "gzip,deflate")])) +
            data(1, msg(b"\x1d\x05status\xffmessage %"), True))

        c = Conn()
        write(t, "%s_server_stream" % s, hello + ack + c.headers(
            1, request(base + "ServerStream",
                       [("grpc-accept-encoding", "identity,gzip")])) +
            data(1, msg(b"\xc1abc"), True))

        c = Conn()
        write(t, "%s_client_stream" % s, hello + ack + c.headers(
            1, request(base + "ClientStream", [("grpc-timeout", "2S")])) +
            data(1, msg(b"\x0a1") + msg(b"2")) + data(1, msg(b"33"), True))

        c = Conn()
        write(t, "%s_bidi" % s, hello + ack + c.headers(
            1, request(base + "Bidi")) + data(1, msg(b"\x00one")) +
            data(1, msg(b"two") + msg(b""), True))

        # Compressed requests.
        c = Conn()
        write(t, "%s_unary_gzip" % s, hello + ack + c.headers(1, request(
            base + "Unary", [("grpc-encoding", "gzip"),
                             ("grpc-accept-encoding", "gzip")])) +
            data(1, msg(gz(b"\x01" + b"z" * 200), 1), True))
        c = Conn()
        write(t, "%s_bidi_deflate" % s, hello + ack + c.headers(1, request(
            base + "Bidi", [("grpc-encoding", "deflate"),
                            ("grpc-accept-encoding", "deflate")])) +
            data(1, msg(zl(b"\x02abcabcabc"), 1) + msg(b"plain")) +
            data(1, msg(zl(b"x" * 1000), 1), True))

        # A small window: inline writes see TERN_EAGAIN.
        c = Conn()
        write(t, "%s_bidi_small_window" % s, settings((4, 8)) + ack +
              c.headers(1, request(base + "Bidi")) +
              data(1, msg(b"\x00" + b"w" * 40) + msg(b"v" * 30)) +
              frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 16)) +
              frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 100)) +
              data(1, b"", True))

    c = Conn(huffman=True)
    write(t, "huffman_many_streams", settings((3, 100), (4, 65535)) +
          c.headers(1, request("/fuzz.Inline/Unary")) +
          c.headers(3, request("/fuzz.Blocking/Unary",
                               [("grpc-timeout", "100m")])) +
          c.headers(5, request("/fuzz.Inline/Bidi")) +
          data(1, msg(b"\x08a"), True) + data(3, msg(b"b"), True) +
          data(5, msg(b"c")) + frame(RST_STREAM, 0, 5, struct.pack(">I", 8)) +
          frame(PING, 0, 0, b"12345678") +
          frame(PRIORITY, 0, 3, struct.pack(">IB", 1, 16)))

    c = Conn()
    write(t, "errors", settings() +
          c.headers(1, request("/nope.Service/M")) + data(1, msg(b""), True) +
          c.headers(3, request("/fuzz.Inline/Nope")) + data(3, b"", True) +
          c.headers(5, [(":method", "GET"), (":scheme", "http"),
                        (":path", "/fuzz.Inline/Unary"),
                        (":authority", "x")], True) +
          c.headers(7, [(":method", "POST"), (":scheme", "http"),
                        (":path", "/fuzz.Inline/Unary"), (":authority", "x"),
                        ("content-type", "text/plain")], True) +
          c.headers(9, request("/fuzz.Inline/Unary", [("x-deny", "7no")])) +
          data(9, msg(b"x"), True))

    c = Conn()
    write(t, "limits", settings() +
          c.headers(1, request("/fuzz.Blocking/Unary")) +
          data(1, b"\x00\x00\x01\x00\x01", True) +  # 65537 > 64 KiB
          c.headers(3, request("/fuzz.Inline/Unary")) +
          data(3, msg(b"xy", 1), True) +  # compressed, no grpc-encoding
          c.headers(5, request("/fuzz.Inline/Unary",
                               [("grpc-encoding", "snappy")])) +
          data(5, msg(b"xy", 1), True) +
          c.headers(7, request("/fuzz.Inline/Unary")) +
          data(7, msg(b"1") + msg(b"2"), True) +
          c.headers(9, request("/fuzz.Inline/Unary")) + data(9, b"\0\0", True))

    c = Conn()
    write(t, "bomb", settings() + c.headers(1, request(
        "/fuzz.Blocking/Unary", [("grpc-encoding", "gzip")])) +
        data(1, msg(gz(b"\0" * (1 << 20)), 1), True))

    c = Conn()
    big = [("x-pad-%d" % i, "v" * 200) for i in range(25)]  # > 4 KiB
    write(t, "big_headers_continuation", settings() + c.headers(
        1, request("/fuzz.Inline/Unary", big), split=1500) +
        data(1, msg(b"x"), True))

    c = Conn()
    write(t, "padded_goaway", settings() +
          c.headers(1, request("/fuzz.Blocking/Bidi")) +
          data(1, msg(b"\x04pad"), pad=7) + data(1, b"", True, pad=0) +
          frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0) + b"bye"))

    c = Conn()
    write(t, "deadline", settings() + c.headers(1, request(
        "/fuzz.Blocking/Bidi", [("grpc-timeout", "1m")])) +
        data(1, msg(b"\x00a")) +
        c.headers(3, request("/fuzz.Inline/ClientStream",
                             [("grpc-timeout", "1u")])) +
        data(3, msg(b"q")))

    # Zero window, and gzip requests that grow to 60 KiB echoed ten times:
    # the response queue passes 256 KiB (blocking writers wait, inline
    # ones get TERN_EAGAIN), then WINDOW_UPDATEs let some of it out.
    for svc in ("Inline", "Blocking"):
        c = Conn()
        big = gz(b"\xc0" + b"\0" * 60000)
        write(t, "%s_bidi_queue_full" % svc.lower(),
              settings((4, 0)) + c.headers(1, request(
                  "/fuzz.%s/Bidi" % svc, [("grpc-encoding", "gzip")])) +
              data(1, msg(big, 1) + msg(big, 1)) +
              settings((4, 70000)) +
              frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 20)) +
              frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1 << 20)) +
              data(1, msg(b"\x00end"), True))

    # nghttp2's flood limits: PINGs past the outbound-ack limit, rapid
    # resets past the reset rate limit.
    write(t, "ping_flood", settings() + b"".join(
        frame(PING, 0, 0, struct.pack(">Q", i)) for i in range(1100)))
    c = Conn()
    hb = c.block(request("/fuzz.Inline/Unary"))
    write(t, "rapid_reset", settings() + b"".join(
        frame(HEADERS, END_HEADERS, sid, hb) +
        frame(RST_STREAM, 0, sid, struct.pack(">I", 8))
        for sid in range(1, 2 * 40, 2)))  # the harness's burst: 20

    write(t, "settings_only", settings((1, 0), (2, 0), (5, 16384), (6, 100)))
    write(t, "empty", b"")


def client_conn_seeds():
    t = "fuzz_client_conn"
    ok_headers = [(":status", "200"), ("content-type", "application/grpc")]

    def resp(flags, body, headers=ok_headers, trailers=None, hello=True,
             huffman=False):
        c = Conn(huffman)
        out = (settings() + settings(ack=True)) if hello else b""
        out += c.headers(1, headers)
        out += body
        out += c.headers(1, trailers or [("grpc-status", "0")], True)
        return bytes([flags]) + out

    write(t, "ok", resp(0, data(1, msg(b"hello"))))
    write(t, "ok_huffman_md", resp(0, data(1, msg(b"x")), ok_headers +
          [("x-h", "v"), ("x-h-bin", "AQID")],
          [("grpc-status", "0"), ("x-t", "w"), ("x-t-bin", "AAEC,AQ==")],
          huffman=True))
    write(t, "ok_gzip", resp(8, data(1, msg(gz(b"hi" * 50), 1)),
                             ok_headers + [("grpc-encoding", "gzip")]))
    write(t, "ok_deflate_stream", resp(16, data(1, msg(zl(b"a"), 1) +
                                                msg(b"b")) +
                                       data(1, msg(b"c")),
                                       ok_headers +
                                       [("grpc-encoding", "deflate")]))
    write(t, "stream_many", resp(16, data(1, msg(b"1") + msg(b"22")) +
                                 data(1, msg(b"333"))))
    write(t, "future_ok", resp(24, data(1, msg(b"f"))))
    write(t, "status_message", resp(0, b"", trailers=[
        ("grpc-status", "5"), ("grpc-message", "not%20found%ZZ%e2%82%ac")]))
    c = Conn()
    write(t, "trailers_only", b"\x03" + c.headers(1, ok_headers + [
        ("grpc-status", "12"), ("grpc-message", "unimplemented")], True))
    c = Conn()
    write(t, "http_503", b"\x03" + c.headers(1, [(":status", "503")], True))
    c = Conn()
    write(t, "html", b"\x03" + c.headers(1, [
        (":status", "200"), ("content-type", "text/html")]) +
        data(1, b"<html>", True))
    write(t, "too_big", resp(0, data(1, b"\x00\x00\x01\x00\x01")))
    write(t, "bad_flag", resp(0, data(1, msg(b"x", 1))))
    write(t, "refused", b"\x03" + frame(RST_STREAM, 0, 1,
                                        struct.pack(">I", 7)))
    write(t, "goaway", b"\x03" + frame(GOAWAY, 0, 0,
                                       struct.pack(">II", 0, 0)))
    write(t, "rst_cancel", b"\x03" + frame(RST_STREAM, 0, 1,
                                           struct.pack(">I", 8)))
    write(t, "ping_window", bytes([0x03]) + frame(PING, 0, 0, b"abcdefgh") +
          frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1000)) +
          frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", 1000)))
    write(t, "deadline_open", bytes([0x84 | 3]))
    c = Conn()
    write(t, "partial_open", bytes([0x84 | 3]) + c.headers(1, ok_headers) +
          data(1, msg(b"abc")[:-1]))
    write(t, "no_settings_raw", resp(0, data(1, msg(b"r")), hello=False))
    write(t, "settings_tiny_frame", bytes([0]) + settings((5, 16384), (4, 1),
                                                          (1, 0)) +
          resp(0, data(1, msg(b"q")), hello=False)[1:])


# ---- message framing ---------------------------------------------------------

def framing_seeds():
    t = "fuzz_framing"
    # cfg: bit0 client, bits1-3 limit index, bits4-6 encoding, bit7 drain
    lim_64k = 5 << 1
    enc = {"none": 0, "identity": 1 << 4, "gzip": 2 << 4, "deflate": 3 << 4,
           "snappy": 4 << 4}
    write(t, "identity_three", bytes([lim_64k | enc["none"], 0]) +
          msg(b"") + msg(b"abc") + msg(b"x" * 300) + b"\0")
    write(t, "split_by_3", bytes([lim_64k | 0x80, 3]) + msg(b"hello") +
          msg(b"world") + b"\1")
    write(t, "gzip", bytes([lim_64k | enc["gzip"], 0]) +
          msg(gz(b"compressed " * 20), 1) + msg(b"plain") + b"\0")
    write(t, "deflate_client", bytes([1 | lim_64k | enc["deflate"], 7]) +
          msg(zl(b"deflated " * 20), 1) + b"\0")
    write(t, "bomb_1k", bytes([(4 << 1) | enc["gzip"], 0]) +
          msg(gz(b"\0" * 100000), 1) + b"\0")
    write(t, "over_limit", bytes([(3 << 1), 0]) + b"\0\0\0\0\x65" + b"\0")
    write(t, "unsupported", bytes([lim_64k | enc["snappy"], 0]) +
          msg(b"x", 1) + b"\0")
    write(t, "truncated_end", bytes([lim_64k, 2]) + msg(b"abcdef")[:-2] + b"\1")
    write(t, "bad_gzip", bytes([lim_64k | enc["gzip"], 0]) +
          msg(gz(b"abc")[:-4] + b"XXXX", 1) + b"\0")


# ---- header blocks -------------------------------------------------------------

def metadata_seeds():
    t = "fuzz_metadata"

    def block(side, lines):
        return bytes([side]) + b"\n".join(k + b":" + v for k, v in lines)

    write(t, "server_request", block(0, [
        (b":path", b"/a.B/C"), (b":authority", b"h:1"), (b":method", b"POST"),
        (b"content-type", b"application/grpc+proto"),
        (b"grpc-timeout", b"99999999H"), (b"grpc-encoding", b"gzip"),
        (b"grpc-accept-encoding", b"identity, deflate ,gzip,x"),
        (b"x-user", b"v a l"), (b"x-bin", b"AAECAw=="),
        (b"x-list-bin", b"AA, AQI ,AwQF"), (b"Host", b"h2")]))
    write(t, "client_trailers_only", block(3, [
        (b":status", b"200"), (b"content-type", b"application/grpc"),
        (b"grpc-status", b"14"), (b"grpc-message", b"unavailable%3A%20x%"),
        (b"x-t-bin", b"////"), (b"x-s", b"1")]))
    write(t, "client_headers", block(1, [
        (b":status", b"404"), (b"content-type", b"text/plain"),
        (b"grpc-status", b"99999999999"), (b"grpc-encoding", b"deflate"),
        (b"x-bad-bin", b"A===")]))
    for name, s in [("timeout_m", b"250m"), ("timeout_n", b"1n"),
                    ("timeout_big", b"99999999H"), ("timeout_bad", b"1x"),
                    ("base64_padded", b"YWJjZA=="),
                    ("base64_unpadded", b"YWJjZA"),
                    ("percent", b"%41%zz%4"), ("status", b"16"),
                    ("public_add", b"\x00Key=value"),
                    ("public_bin", b"\x00x-y-bin=\x01\x02")]:
        write(t, name, s)


def target_seeds():
    t = "fuzz_target"
    for i, s in enumerate([
            "localhost:50051", "localhost", "dns:///example.com:443",
            "dns://8.8.8.8/host:1", "dns:h:2", "ipv4:1.2.3.4:5,6.7.8.9:10",
            "ipv6:[::1]:50051,[fe80::1%eth0]:1", "[::1]:80", "::1",
            "unix:/tmp/x.sock", "unix:///abs/path", "unix:rel/path",
            "unix-abstract:x", "xds:///svc", "host:0", "host:65536",
            "a_b-c.d:1"]):
        write(t, "t%02d" % i, s.encode())


# ---- real grpcio exchanges -------------------------------------------------------

def record_client(path, method, requests, metadata=(), compression=None):
    """The bytes a grpcio client sends for one call (after the preface)."""
    import grpc
    d = tempfile.mkdtemp()
    sock_path = os.path.join(d, "s")
    ls = socket.socket(socket.AF_UNIX)
    ls.bind(sock_path)
    ls.listen(1)
    got = bytearray()

    def complete(b):
        """Whether the request has ended (END_STREAM on HEADERS or DATA)."""
        off = len(PREFACE)
        while off + 9 <= len(b):
            n = int.from_bytes(b[off:off + 3], "big")
            if off + 9 + n > len(b):
                return False
            if b[off + 3] in (DATA, HEADERS) and b[off + 4] & END_STREAM:
                return True
            off += 9 + n
        return False

    def serve():
        c, _ = ls.accept()
        c.settimeout(2)
        c.sendall(settings() + settings(ack=True))
        try:
            while not complete(got):
                b = c.recv(65536)
                if not b:
                    break
                got.extend(b)
        except socket.timeout:
            pass
        # Recorded up to the end of the request: nothing of the client's
        # reaction to this fake server (a timeout's RST_STREAM) goes in.
        c.close()

    th = threading.Thread(target=serve)
    th.start()
    ch = grpc.insecure_channel("unix:" + sock_path)
    kw = {"timeout": 0.5, "metadata": list(metadata)}
    if compression:
        kw["compression"] = compression
    try:
        if method == "unary":
            ch.unary_unary(path)(requests[0], **kw)
        elif method == "stream":
            list(ch.stream_stream(path)(iter(requests), **kw))
        else:
            ch.stream_unary(path)(iter(requests), **kw)
    except grpc.RpcError:
        pass
    th.join()
    ch.close()
    ls.close()
    os.unlink(sock_path)
    os.rmdir(d)
    b = bytes(got)
    return b[len(PREFACE):] if b.startswith(PREFACE) else b


def record_server(client_bytes, handler_kind):
    """What a grpcio server answers to client_bytes."""
    import grpc
    from concurrent import futures

    def unary(req, ctx):
        ctx.set_trailing_metadata((("x-t", "1"), ("x-t-bin", b"\x00\x01")))
        return req + b"!"

    def failing(req, ctx):
        ctx.abort(grpc.StatusCode.NOT_FOUND, "no such thing: \u00e9")

    def stream(reqs, ctx):
        for r in reqs:
            yield r
            yield r + r

    class H(grpc.GenericRpcHandler):
        def service(self, details):
            if handler_kind == "unary":
                return grpc.unary_unary_rpc_method_handler(unary)
            if handler_kind == "fail":
                return grpc.unary_unary_rpc_method_handler(failing)
            if handler_kind == "gzip":
                return grpc.unary_unary_rpc_method_handler(
                    lambda r, c: (c.set_compression(grpc.Compression.Gzip),
                                  r * 30)[1])
            return grpc.stream_stream_rpc_method_handler(stream)

    d = tempfile.mkdtemp()
    sock_path = os.path.join(d, "s")
    srv = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    srv.add_generic_rpc_handlers((H(),))
    srv.add_insecure_port("unix:" + sock_path)
    srv.start()
    c = socket.socket(socket.AF_UNIX)
    c.connect(sock_path)
    c.sendall(PREFACE + client_bytes)
    c.settimeout(0.5)
    got = bytearray()
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            got.extend(b)
    except socket.timeout:
        pass
    c.close()
    srv.stop(0)
    os.unlink(sock_path) if os.path.exists(sock_path) else None
    os.rmdir(d)
    return bytes(got)


def without_true_binary(b):
    """b's frames with setting 0xfe03 taken out of SETTINGS frames."""
    out, off = b"", 0
    while off + 9 <= len(b):
        n = int.from_bytes(b[off:off + 3], "big")
        f = b[off:off + 9 + n]
        if f[3] == SETTINGS:
            pl = b"".join(f[9 + i:9 + i + 6] for i in range(0, n, 6)
                          if f[9 + i:9 + i + 2] != b"\xfe\x03")
            f = frame(SETTINGS, f[4], 0, pl)
        out += f
        off += 9 + n
    return out + b[off:]


def grpcio_seeds():
    import grpc
    t = "fuzz_server_conn"
    md = (("x-a", "1"), ("x-b-bin", b"\x00\xff"))
    unary = record_client("/fuzz.Inline/Unary", "unary", [b"\x04grpcio"], md)
    write(t, "grpcio_inline_unary", unary)
    write(t, "grpcio_blocking_unary_gzip", record_client(
        "/fuzz.Blocking/Unary", "unary", [b"\x01" + b"g" * 100], md,
        grpc.Compression.Gzip))
    bidi = record_client("/fuzz.Blocking/Bidi", "stream",
                         [b"\x00a", b"bb", b"ccc"])
    write(t, "grpcio_blocking_bidi", bidi)
    write(t, "grpcio_inline_client_stream", record_client(
        "/fuzz.Inline/ClientStream", "client", [b"\x08x", b"yy"]))

    t = "fuzz_client_conn"
    # The tern client's call is stream 1 too: the answers fit it. grpcio's
    # client offers "true binary" metadata (setting 0xfe03), which a tern
    # client never does; answers to a client without it are what tern sees.
    write(t, "grpcio_true_binary", b"\x00" + record_server(unary, "unary"))
    unary, bidi = without_true_binary(unary), without_true_binary(bidi)
    write(t, "grpcio_unary", b"\x00" + record_server(unary, "unary"))
    write(t, "grpcio_fail", b"\x00" + record_server(unary, "fail"))
    write(t, "grpcio_gzip", b"\x00" + record_server(unary, "gzip"))
    write(t, "grpcio_bidi", b"\x10" + record_server(bidi, "stream"))


# ---- CodeGeneratorRequests -------------------------------------------------------

def plugin_seeds():
    t = "fuzz_plugin"
    d = tempfile.mkdtemp()
    dump = os.path.join(d, "protoc-gen-dump")
    with open(dump, "w") as f:
        f.write("#!/bin/sh\ncat > \"$DUMP_TO\"\n"
                "printf ''\n")  # an empty CodeGeneratorResponse
    os.chmod(dump, 0o755)
    runs = [
        ("route_guide", ["-I", "examples/route_guide/protos",
                         "examples/route_guide/protos/route_guide.proto"]),
        ("echo", ["-I", "tests/core/protos", "tests/core/protos/echo.proto"]),
        ("vpath", ["-I", "custom/path=examples/route_guide/protos",
                   "examples/route_guide/protos/route_guide.proto"]),
    ]
    pdir = os.path.join(ROOT, "tests/plugin/protos")
    for name in sorted(os.listdir(pdir)):
        # cpkg imports protobuf-c.proto and so descriptor.proto: 55 KB of
        # request for little more than the others cover.
        if name.endswith(".proto") and name != "cpkg.proto":
            runs.append(("plugin_" + name[:-6],
                         ["-I", "tests/plugin/protos",
                          "tests/plugin/protos/" + name]))
    runs += [
        ("plugin_three_files", ["-I", "tests/plugin/protos",
                                "tests/plugin/protos/nopkg.proto",
                                "tests/plugin/protos/dotted.proto",
                                "tests/plugin/protos/multi.proto"]),
        ("plugin_vpath", ["-I", "custom/path=tests/plugin/protos/vpath",
                          "tests/plugin/protos/vpath/layout_msgs.proto",
                          "tests/plugin/protos/vpath/layout.proto"]),
        ("plugin_keywords", ["-I", "tests/plugin/protos/keywords",
                             "tests/plugin/protos/keywords/keywords.proto"]),
    ]
    for name, args in runs:
        out = os.path.join(d, name)
        env = dict(os.environ, DUMP_TO=out)
        r = subprocess.run(["protoc", "--plugin=protoc-gen-dump=" + dump,
                            "--dump_out=" + d] + args, cwd=ROOT, env=env,
                           capture_output=True)
        if r.returncode != 0 or not os.path.exists(out):
            print("plugin seed %s: %s" % (name, r.stderr.decode().strip()),
                  file=sys.stderr)
            continue
        with open(out, "rb") as f:
            write(t, name, f.read())
        os.unlink(out)
    os.unlink(dump)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    os.rmdir(d)


def main():
    server_conn_seeds()
    client_conn_seeds()
    framing_seeds()
    metadata_seeds()
    target_seeds()
    if "--grpcio" in sys.argv:
        grpcio_seeds()
    if "--plugin" in sys.argv:
        plugin_seeds()


if __name__ == "__main__":
    main()
