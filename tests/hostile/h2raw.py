"""Hand-built HTTP/2 for the hostile tests: frames, a stateless HPACK
encoder (literals only, so that any byte sequence can be sent, including
broken ones), hpack's decoder for what the peer answers, the few protobuf
bytes RouteGuide needs, /proc probes, and a raw connection that records
every frame it receives.

Only 127.0.0.1 is used; every wait has a deadline."""

import os
import select
import socket
import struct
import time

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

# Frame types
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, \
    WINDOW_UPDATE, CONTINUATION = range(10)
FRAME_NAMES = ["DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS",
               "PUSH_PROMISE", "PING", "GOAWAY", "WINDOW_UPDATE",
               "CONTINUATION"]

# Flags
END_STREAM = 0x1
ACK = 0x1
END_HEADERS = 0x4
PADDED = 0x8
PRIORITY_FLAG = 0x20

# Error codes (RFC 9113 section 7)
ERROR_NAMES = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR",
               "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
               "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
               "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
               "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]
for _i, _n in enumerate(ERROR_NAMES):
    globals()[_n] = _i

# SETTINGS identifiers
HEADER_TABLE_SIZE, ENABLE_PUSH, MAX_CONCURRENT_STREAMS, INITIAL_WINDOW_SIZE, \
    MAX_FRAME_SIZE, MAX_HEADER_LIST_SIZE = range(1, 7)

GRPC_CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
              "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
              "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
              "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
              "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
              "UNAUTHENTICATED"]


def error_name(code):
    if code is None:
        return "none"
    return ERROR_NAMES[code] if 0 <= code < len(ERROR_NAMES) else \
        "0x%x" % code


def grpc_name(code):
    if code is None:
        return "none"
    return GRPC_CODES[code] if 0 <= code < len(GRPC_CODES) else str(code)


# --- frames -----------------------------------------------------------------

def frame(ftype, flags, sid, payload=b"", length=None):
    """One frame; `length` overrides the header's length field (to lie)."""
    n = len(payload) if length is None else length
    return struct.pack(">I", n)[1:] + struct.pack(">BBI", ftype, flags,
                                                  sid & 0xFFFFFFFF) + payload


def settings(entries=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0,
                 b"".join(struct.pack(">HI", k, v) for k, v in entries))


def ping(data=b"\0" * 8, ack=False, sid=0):
    return frame(PING, ACK if ack else 0, sid, data)


def rst(sid, code):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def goaway(last_sid, code, debug=b"", sid=0):
    return frame(GOAWAY, 0, sid, struct.pack(">II", last_sid, code) + debug)


def window_update(sid, incr):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", incr))


def data(sid, payload, end=False):
    return frame(DATA, END_STREAM if end else 0, sid, payload)


def headers(sid, block, end_stream=False, end_headers=True):
    flags = (END_STREAM if end_stream else 0) | \
        (END_HEADERS if end_headers else 0)
    return frame(HEADERS, flags, sid, block)


def continuation(sid, block, end_headers=False):
    return frame(CONTINUATION, END_HEADERS if end_headers else 0, sid, block)


def header_frames(sid, block, end_stream=False, max_frame=16384):
    """HEADERS, plus CONTINUATIONs when the block is larger than a frame."""
    if len(block) <= max_frame:
        return headers(sid, block, end_stream)
    out = [headers(sid, block[:max_frame], end_stream, end_headers=False)]
    rest = block[max_frame:]
    while rest:
        piece, rest = rest[:max_frame], rest[max_frame:]
        out.append(continuation(sid, piece, end_headers=not rest))
    return b"".join(out)


def data_frames(sid, payload, end=True, max_frame=16384):
    """DATA frames of at most max_frame bytes carrying payload."""
    out = []
    for off in range(0, len(payload), max_frame):
        last = off + max_frame >= len(payload)
        out.append(data(sid, payload[off:off + max_frame], end and last))
    if not payload:
        out.append(data(sid, b"", end))
    return b"".join(out)


# --- HPACK (RFC 7541), encoder side by hand ---------------------------------

def hpack_int(value, prefix_bits, first_byte_flags=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte_flags | value])
    out = bytearray([first_byte_flags | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_string(s):
    b = s.encode() if isinstance(s, str) else bytes(s)
    return hpack_int(len(b), 7) + b


def literal(name, value, index=False):
    """Literal with a new name: without indexing (0x00) or with
    incremental indexing (0x40, adds to the peer's dynamic table)."""
    return (b"\x40" if index else b"\x00") + hpack_string(name) + \
        hpack_string(value)


def encode_headers(pairs):
    """A header block of literals without indexing: no encoder state."""
    return b"".join(literal(k, v) for k, v in pairs)


def indexed(i):
    return hpack_int(i, 7, 0x80)


# --- gRPC / RouteGuide ------------------------------------------------------

GET_FEATURE = "/routeguide.RouteGuide/GetFeature"
LIST_FEATURES = "/routeguide.RouteGuide/ListFeatures"
RECORD_ROUTE = "/routeguide.RouteGuide/RecordRoute"
KNOWN_LAT, KNOWN_LON = 409146138, -746188906
KNOWN_NAME = "Berkshire Valley Management Area Trail, Jefferson, NJ, USA"


def request_headers(path=GET_FEATURE, extra=(), drop=(), replace=None):
    h = [(":method", "POST"), (":scheme", "http"), (":path", path),
         (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
         ("te", "trailers")]
    if replace:
        h = [(k, replace.get(k, v)) for k, v in h]
    h = [(k, v) for k, v in h if k not in drop]
    return h + list(extra)


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def point(lat=KNOWN_LAT, lon=KNOWN_LON):
    return b"\x08" + varint(lat) + b"\x10" + varint(lon)


def response_payload(feature_name=KNOWN_NAME, lat=KNOWN_LAT, lon=KNOWN_LON):
    name = feature_name.encode()
    loc = point(lat, lon)
    return b"\x0a" + varint(len(name)) + name + b"\x12" + varint(len(loc)) + \
        loc


def grpc_frame(payload, compressed=False, length=None):
    n = len(payload) if length is None else length
    return struct.pack(">BI", 1 if compressed else 0, n) + payload


def read_varint(b, i):
    v = shift = 0
    while i < len(b):
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if not c & 0x80:
            return v, i
    raise ValueError("truncated varint")


def feature_name(msg):
    """Field 1 (name) of a routeguide.Feature, or None."""
    i = 0
    while i < len(msg):
        key, i = read_varint(msg, i)
        wt = key & 7
        if wt == 0:
            _, i = read_varint(msg, i)
        elif wt == 2:
            n, i = read_varint(msg, i)
            if key >> 3 == 1:
                return msg[i:i + n].decode("utf-8", "replace")
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wt)
    return None


def grpc_messages(buf):
    """Splits a response body into messages: [(compressed, bytes)]."""
    out, i = [], 0
    while i + 5 <= len(buf):
        flag, n = struct.unpack(">BI", buf[i:i + 5])
        if i + 5 + n > len(buf):
            break
        out.append((flag, bytes(buf[i + 5:i + 5 + n])))
        i += 5 + n
    return out


# --- /proc ------------------------------------------------------------------

def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return -1.0


def thread_count(pid):
    try:
        return len(os.listdir("/proc/%d/task" % pid))
    except OSError:
        return -1


# --- a raw connection ---------------------------------------------------------

class Conn:
    """A raw HTTP/2 connection that records what the peer sends: a client
    connecting to 127.0.0.1:port, or (server_side) an accepted socket,
    whose first 24 bytes must be the client preface."""

    MAX_FRAMES_KEPT = 2000

    def __init__(self, port=None, rcvbuf=None, timeout=5.0, auto_ack=True,
                 sock=None, server_side=False):
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(timeout)
            sock.connect(("127.0.0.1", port))
        else:
            sock.settimeout(timeout)
        self.sock = sock
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.need_preface = server_side
        self.bad_preface = False
        self.auto_ack = auto_ack
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.decoder.max_allowed_table_size = 1 << 16
        self.buf = bytearray()
        self.block = None  # (sid, flags, bytearray) while CONTINUATIONs due
        self.closed = False
        self.close_reason = None
        self.send_failed = False
        self.goaway = None  # (last_sid, code, debug)
        self.rst = {}
        self.headers = {}
        self.body = {}
        self.ended = set()
        self.settings_seen = 0
        self.settings_acks = 0
        self.ping_acks = 0
        self.pings = 0
        self.frame_counts = {}
        self.frames = []
        self.bytes_in = 0
        self.decode_error = None

    # sending
    def send(self, b):
        if self.closed or self.send_failed:
            return False
        try:
            self.sock.sendall(b)
            return True
        except (BrokenPipeError, ConnectionResetError, socket.timeout,
                OSError) as e:
            self.send_failed = True
            self.close_reason = "send: %s" % e
            return False

    def handshake(self, entries=(), wait=True, timeout=5.0):
        self.send(PREFACE + settings(entries))
        if wait:
            self.wait(lambda: self.settings_seen > 0, timeout)
        return self

    def request(self, sid, hdrs=None, msg=b"", end=True, extra=()):
        hdrs = request_headers(extra=extra) if hdrs is None else hdrs
        out = header_frames(sid, encode_headers(hdrs),
                            end_stream=msg is None and end)
        if msg is not None:
            out += data_frames(sid, msg, end)
        return self.send(out)

    def good_request(self, sid, extra=()):
        return self.request(sid, msg=grpc_frame(point()), extra=extra)

    # receiving
    def _frame(self, ftype, flags, sid, payload):
        self.frame_counts[ftype] = self.frame_counts.get(ftype, 0) + 1
        if len(self.frames) < self.MAX_FRAMES_KEPT:
            self.frames.append((ftype, flags, sid, len(payload)))
        if self.block is not None and ftype != CONTINUATION:
            self.decode_error = "frame %d inside a header block" % ftype
            self.block = None
        if ftype == SETTINGS:
            if flags & ACK:
                self.settings_acks += 1
            else:
                self.settings_seen += 1
                if self.auto_ack:
                    self.send(settings(ack=True))
        elif ftype == PING:
            if flags & ACK:
                self.ping_acks += 1
            else:
                self.pings += 1
                if self.auto_ack:
                    self.send(ping(payload, ack=True))
        elif ftype == GOAWAY and len(payload) >= 8:
            last, code = struct.unpack(">II", payload[:8])
            self.goaway = (last & 0x7FFFFFFF, code, bytes(payload[8:]))
        elif ftype == RST_STREAM and len(payload) == 4:
            self.rst[sid] = struct.unpack(">I", payload)[0]
        elif ftype == DATA:
            p = payload
            if flags & PADDED and p:
                p = p[1:len(p) - p[0]]
            self.body.setdefault(sid, bytearray()).extend(p)
            if flags & END_STREAM:
                self.ended.add(sid)
        elif ftype in (HEADERS, PUSH_PROMISE):
            p = payload
            pad = 0
            if flags & PADDED and p:
                pad = p[0]
                p = p[1:]
            if ftype == HEADERS and flags & PRIORITY_FLAG:
                p = p[5:]
            if ftype == PUSH_PROMISE:
                p = p[4:]
            if pad:
                p = p[:len(p) - pad]
            self.block = (sid, flags, bytearray(p), ftype)
            if flags & END_HEADERS:
                self._end_block()
        elif ftype == CONTINUATION and self.block is not None:
            self.block[2].extend(payload)
            if flags & END_HEADERS:
                self._end_block()

    def _end_block(self):
        sid, flags, block, ftype = self.block
        self.block = None
        try:
            hs = self.decoder.decode(bytes(block), raw=True)
        except Exception as e:  # hpack raises several types
            self.decode_error = "hpack: %s" % e
            return
        if ftype == PUSH_PROMISE:
            return
        self.headers.setdefault(sid, []).append(
            {k.decode("latin-1"): v.decode("latin-1") for k, v in hs})
        if flags & END_STREAM:
            self.ended.add(sid)

    def _parse(self):
        if self.need_preface:
            if len(self.buf) < len(PREFACE):
                if not PREFACE.startswith(bytes(self.buf)):
                    self.bad_preface = True
                return
            if bytes(self.buf[:len(PREFACE)]) != PREFACE:
                self.bad_preface = True
                self.need_preface = False
                return
            del self.buf[:len(PREFACE)]
            self.need_preface = False
        if self.bad_preface:
            self.buf.clear()
            return
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + n:
                return
            ftype, flags, sid = struct.unpack(">BBI", self.buf[3:9])
            payload = bytes(self.buf[9:9 + n])
            del self.buf[:9 + n]
            self._frame(ftype, flags, sid & 0x7FFFFFFF, payload)

    def pump(self, timeout):
        """Waits up to `timeout` seconds for data, then reads all that is
        there without waiting more (returns early at EOF)."""
        for i in range(256):  # at most 16 MiB per call
            if self.closed:
                return
            r, _, _ = select.select([self.sock], [], [],
                                    max(0.0, timeout) if i == 0 else 0)
            if not r:
                return
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, OSError) as e:
                self.closed = True
                self.close_reason = "recv: %s" % e
                return
            if not chunk:
                self.closed = True
                self.close_reason = self.close_reason or "EOF"
                return
            self.bytes_in += len(chunk)
            self.buf.extend(chunk)
            self._parse()

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while not pred() and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.pump(min(left, 0.05))
        return pred()

    def wait_closed(self, timeout):
        return self.wait(lambda: self.closed, timeout)

    def wait_goaway_or_close(self, timeout):
        return self.wait(lambda: self.goaway is not None or self.closed,
                         timeout)

    def stream_done(self, sid):
        return sid in self.ended or sid in self.rst

    def wait_stream(self, sid, timeout=5.0):
        return self.wait(lambda: self.stream_done(sid) or
                         self.goaway is not None, timeout)

    def last_headers(self, sid):
        hs = self.headers.get(sid)
        return hs[-1] if hs else {}

    def first_headers(self, sid):
        hs = self.headers.get(sid)
        return hs[0] if hs else {}

    def grpc_status(self, sid):
        v = self.last_headers(sid).get("grpc-status")
        try:
            return int(v) if v is not None else None
        except ValueError:
            return None

    def grpc_message(self, sid):
        return self.last_headers(sid).get("grpc-message", "")

    def http_status(self, sid):
        return self.first_headers(sid).get(":status")

    def describe(self, sid=None):
        parts = []
        if sid is not None:
            if sid in self.headers:
                parts.append("headers=%s" % self.headers[sid])
            if sid in self.rst:
                parts.append("rst=%s" % error_name(self.rst[sid]))
        if self.goaway:
            parts.append("goaway=%s last=%d debug=%r" % (
                error_name(self.goaway[1]), self.goaway[0],
                self.goaway[2][:80]))
        if self.closed:
            parts.append("closed (%s)" % self.close_reason)
        if self.decode_error:
            parts.append("decode error: %s" % self.decode_error)
        if not parts:
            parts.append("nothing")
        return ", ".join(parts)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
        self.closed = True
