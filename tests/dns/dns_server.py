#!/usr/bin/python3
"""A small DNS server for tern's resolver tests, on 127.0.0.1 (UDP).

Answers from a table of names, each given as NAME=SPEC[,SPEC...]:

  A:1.2.3.4        an A record (several allowed, answered in this order)
  AAAA:::1         an AAAA record
  NXDOMAIN         the name does not exist (rcode 3)
  SERVFAIL         the server fails (rcode 2)
  delay:MS         answer MS milliseconds late (other queries meanwhile
                   are answered on time)

A name in the table without a record of the asked type gets an empty
NOERROR answer; a name not in the table gets NXDOMAIN. Entries come from
the command line and from --table-file (same syntax, one per line, '#'
comments), which is read again whenever it changes, so that a test can
move a name while the server runs.

Prints "PORT <n>" on stdout once it listens. With --log FILE, appends
"<name> <type>" for every query received (flushed at once), so that a test
can count lookups.

  dns_server.py [--port N] [--log FILE] [--table-file FILE] [NAME=SPEC...]
"""

import argparse
import os
import socket
import sys
import threading

from dnslib import AAAA, A, DNSRecord, QTYPE, RCODE, RR


class Table:
    def __init__(self, entries, path):
        self.static = parse_entries(entries)
        self.path = path
        self.mtime = None
        self.from_file = {}
        self.lock = threading.Lock()

    def lookup(self, name):
        with self.lock:
            if self.path:
                try:
                    st = os.stat(self.path)
                    key = (st.st_mtime_ns, st.st_size)
                    if key != self.mtime:
                        with open(self.path) as f:
                            self.from_file = parse_entries(
                                l for l in f.read().splitlines())
                        self.mtime = key
                except FileNotFoundError:
                    self.from_file = {}
            if name in self.from_file:
                return self.from_file[name]
            return self.static.get(name)


def parse_entries(lines):
    table = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, specs = line.partition("=")
        entry = {"records": [], "rcode": RCODE.NOERROR, "delay_ms": 0}
        for spec in specs.split(","):
            spec = spec.strip()
            kind, _, value = spec.partition(":")
            kind = kind.upper()
            if kind in ("A", "AAAA"):
                entry["records"].append((kind, value))
            elif kind == "NXDOMAIN":
                entry["rcode"] = RCODE.NXDOMAIN
            elif kind == "SERVFAIL":
                entry["rcode"] = RCODE.SERVFAIL
            elif kind == "DELAY":
                entry["delay_ms"] = int(value)
            elif spec:
                raise ValueError("bad spec %r for %s" % (spec, name))
        table[name.strip().lower().rstrip(".")] = entry
    return table


def answer(query, entry):
    reply = query.reply()
    if entry is None:
        reply.header.rcode = RCODE.NXDOMAIN
        return reply
    reply.header.rcode = entry["rcode"]
    if entry["rcode"] != RCODE.NOERROR:
        return reply
    qname = query.q.qname
    qtype = QTYPE[query.q.qtype]
    for kind, value in entry["records"]:
        if kind == qtype:
            rdata = A(value) if kind == "A" else AAAA(value)
            reply.add_answer(RR(qname, getattr(QTYPE, kind), rdata=rdata,
                                ttl=1))
    return reply


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--log")
    ap.add_argument("--table-file")
    ap.add_argument("entries", nargs="*")
    args = ap.parse_args()
    table = Table(args.entries, args.table_file)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    log = open(args.log, "a") if args.log else None
    log_lock = threading.Lock()
    print("PORT %d" % sock.getsockname()[1], flush=True)
    while True:
        data, peer = sock.recvfrom(4096)
        try:
            query = DNSRecord.parse(data)
        except Exception:  # not DNS: ignore, as a server would
            continue
        name = str(query.q.qname).lower().rstrip(".")
        if log:
            with log_lock:
                log.write("%s %s\n" % (name, QTYPE[query.q.qtype]))
                log.flush()
        entry = table.lookup(name)
        packet = answer(query, entry).pack()
        delay = entry["delay_ms"] if entry else 0
        if delay:
            threading.Timer(delay / 1000.0, sock.sendto,
                            (packet, peer)).start()
        else:
            sock.sendto(packet, peer)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
