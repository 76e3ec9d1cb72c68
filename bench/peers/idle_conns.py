#!/usr/bin/python3
"""idle_conns.py: what an idle HTTP/2 connection costs a server.

Opens --count cleartext HTTP/2 connections to 127.0.0.1:--port (client
preface + empty SETTINGS, waits for the server's SETTINGS and ACKs it), in
batches, and keeps them all open and idle. The server's VmRSS
(/proc/--pid/status) is read before the first connection and again after
all are up and --settle seconds have passed; the difference divided by the
connections that came up is the memory per idle connection. Then it sends
a PING on every connection and counts the ACKs (the server still serves
them all), closes everything and reads VmRSS once more.

Needs a file descriptor limit above --count (the script raises its soft
limit up to the hard one; run under `ulimit -n 20000`). Loopback only.
Exit status 0 when every connection came up and answered its PING.
"""

import argparse
import errno
import json
import os
import resource
import selectors
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
T_SETTINGS, T_PING, T_GOAWAY = 4, 6, 7
F_ACK = 1


def frame(ftype, flags, payload=b""):
    return (struct.pack(">I", len(payload))[1:] +
            struct.pack(">BBI", ftype, flags, 0) + payload)


HELLO = PREFACE + frame(T_SETTINGS, 0)
SETTINGS_ACK = frame(T_SETTINGS, F_ACK)
PING = frame(T_PING, 0, b"idlecnns")


class Conn:
    __slots__ = ("sock", "buf", "connected", "up", "dead", "pinged",
                 "ponged")

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.connected = self.up = self.dead = False
        self.pinged = self.ponged = False


def vm_status(pid):
    """(VmRSS KiB, Threads) of a process."""
    rss = threads = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    return rss, threads


def on_readable(sel, c):
    try:
        data = c.sock.recv(65536)
    except BlockingIOError:
        return
    except OSError:
        data = b""
    if not data:
        kill(sel, c)
        return
    c.buf += data
    while len(c.buf) >= 9:
        length = int.from_bytes(c.buf[0:3], "big")
        if len(c.buf) < 9 + length:
            break
        ftype, flags = c.buf[3], c.buf[4]
        c.buf = c.buf[9 + length:]
        if ftype == T_SETTINGS and not flags & F_ACK:
            if not c.up:
                c.up = True
            send(sel, c, SETTINGS_ACK)
        elif ftype == T_PING and flags & F_ACK:
            c.ponged = True
        elif ftype == T_PING:
            pass  # not expected from an idle server; left unanswered
        elif ftype == T_GOAWAY:
            kill(sel, c)
            return


def send(sel, c, data):
    try:
        if c.sock.send(data) != len(data):  # tiny frames: a short send is
            kill(sel, c)                    # a broken connection
    except OSError:
        kill(sel, c)


def kill(sel, c):
    if c.dead:
        return
    c.dead = True
    try:
        sel.unregister(c.sock)
    except (KeyError, ValueError):
        pass
    c.sock.close()


def on_writable(sel, c):
    err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if err:
        kill(sel, c)
        return
    c.connected = True
    sel.modify(c.sock, selectors.EVENT_READ, c)
    send(sel, c, HELLO)


def pump(sel, done, timeout):
    """Runs the event loop until done() or timeout seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        for key, ev in sel.select(min(left, 0.5)):
            c = key.data
            if c.dead:
                continue
            if not c.connected and ev & selectors.EVENT_WRITE:
                on_writable(sel, c)
            elif ev & selectors.EVENT_READ:
                on_readable(sel, c)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True,
                    help="the server's process id (for /proc/PID/status)")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--batch", type=int, default=250,
                    help="connections opened at once (default 250)")
    ap.add_argument("--settle", type=float, default=2.0,
                    help="seconds idle before the second RSS reading")
    ap.add_argument("--name", default="server", help="label for the report")
    ap.add_argument("--json", help="write the figures to this file")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.count + 64
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            sys.exit("idle_conns: need %d file descriptors, hard limit is %d "
                     "(ulimit -n)" % (need, hard))
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))

    sel = selectors.DefaultSelector()
    conns = []
    rss0, threads0 = vm_status(a.pid)
    t0 = time.monotonic()
    for start in range(0, a.count, a.batch):
        batch = []
        for _ in range(min(a.batch, a.count - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            c = Conn(s)
            rc = s.connect_ex(("127.0.0.1", a.port))
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                c.dead = True
            else:
                sel.register(s, selectors.EVENT_WRITE, c)
            batch.append(c)
            conns.append(c)
        pump(sel, lambda: all(c.up or c.dead for c in batch), 20.0)
    setup_s = time.monotonic() - t0
    up = sum(1 for c in conns if c.up and not c.dead)
    # Let the server settle (and drop connections it does not want), then
    # read its RSS while every connection is idle.
    pump(sel, lambda: False, a.settle)
    alive = [c for c in conns if c.up and not c.dead]
    rss1, threads1 = vm_status(a.pid)

    for c in alive:
        c.pinged = True
        send(sel, c, PING)
    pump(sel, lambda: all(c.ponged or c.dead for c in alive), 30.0)
    ponged = sum(1 for c in alive if c.ponged)

    for c in conns:
        kill(sel, c)
    sel.close()
    time.sleep(1.0)
    try:
        rss2, _ = vm_status(a.pid)
    except OSError:
        rss2 = None

    per_conn = (rss1 - rss0) * 1024.0 / len(alive) if alive else None
    res = dict(name=a.name, count=a.count, up=up, alive_after_settle=len(alive),
               ping_acked=ponged, setup_s=round(setup_s, 3),
               rss_before_kib=rss0, rss_idle_kib=rss1, rss_after_close_kib=rss2,
               threads_before=threads0, threads_idle=threads1,
               rss_bytes_per_conn=round(per_conn, 1) if per_conn else None)
    print("idle_conns %s: %d/%d connections up in %.1f s, %d still open after "
          "%.0f s, %d answered a PING; server VmRSS %d KiB -> %d KiB "
          "(%s bytes per connection), %s KiB after closing; threads %s -> %s"
          % (a.name, up, a.count, setup_s, len(alive), a.settle, ponged, rss0,
             rss1, "%.0f" % per_conn if per_conn is not None else "-",
             rss2 if rss2 is not None else "-", threads0, threads1))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0 if (len(alive) == a.count and ponged == a.count) else 1


if __name__ == "__main__":
    sys.exit(main())
