#!/usr/bin/python3
"""What a tern server answers once a call's deadline has passed.

  deadline_status.py --target 127.0.0.1:PORT [--calls N]

Sends N GetFeature calls to a RouteGuide test server (rg_test_server)
over raw HTTP/2 (python3-h2), each with `grpc-timeout: 50m` and
`x-delay-ms` between 40 and 64 ms, and never resets a stream itself, so
what comes back is what the server decided. A call the server let run
past its deadline must end DEADLINE_EXCEEDED (4), as grpc does; only a
handler that finished in time may answer OK (0). Anything else (e.g. the
handler's own CANCELLED after it saw tern_server_call_is_cancelled) fails.
Found by the soak (docs/reliability.md). 127.0.0.1 only; every wait
bounded.
"""

import argparse
import collections
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events

ALLOWED = {"0", "4"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True)
    ap.add_argument("--calls", type=int, default=400)
    args = ap.parse_args()
    host, port = args.target.rsplit(":", 1)

    sock = socket.create_connection((host, int(port)), timeout=10)
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    seen = collections.Counter()
    bad = []
    end = time.monotonic() + 120
    sent = 0
    while sent < args.calls:
        pending = {}
        for _ in range(min(20, args.calls - sent)):
            sid = conn.get_next_available_stream_id()
            delay = 40 + sent % 25
            conn.send_headers(sid, [
                (":method", "POST"), (":scheme", "http"),
                (":path", "/routeguide.RouteGuide/GetFeature"),
                (":authority", host), ("content-type", "application/grpc"),
                ("te", "trailers"), ("grpc-timeout", "50m"),
                ("x-delay-ms", str(delay))])
            conn.send_data(sid, b"\x00\x00\x00\x00\x00", end_stream=True)
            pending[sid] = delay
            sent += 1
        sock.sendall(conn.data_to_send())
        while pending:
            if time.monotonic() > end:
                print("FAIL no answer for %d calls within 120 s" %
                      len(pending))
                return 1
            data = sock.recv(65536)
            if not data:
                print("FAIL the server closed the connection")
                return 1
            for ev in conn.receive_data(data):
                if isinstance(ev, (h2.events.ResponseReceived,
                                   h2.events.TrailersReceived)):
                    hd = dict(ev.headers)
                    if "grpc-status" not in hd:
                        continue
                    st = hd["grpc-status"]
                    seen[st] += 1
                    delay = pending.pop(ev.stream_id, None)
                    if st not in ALLOWED:
                        bad.append("x-delay-ms %s: grpc-status %s %r" %
                                   (delay, st, hd.get("grpc-message", "")))
                elif isinstance(ev, h2.events.StreamReset):
                    seen["RST_STREAM %d" % ev.error_code] += 1
                    bad.append("x-delay-ms %s: RST_STREAM %d" %
                               (pending.pop(ev.stream_id, None),
                                ev.error_code))
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
            sock.sendall(conn.data_to_send())
    sock.close()
    print("answers: " + ", ".join("%s=%d" % kv for kv in sorted(seen.items())))
    for line in bad[:10]:
        print("FAIL " + line)
    if bad:
        print("FAIL %d of %d calls past their deadline did not end "
              "DEADLINE_EXCEEDED" % (len(bad), args.calls))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
