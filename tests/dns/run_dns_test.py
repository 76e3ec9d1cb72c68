#!/usr/bin/python3
"""Starts dns_server.py on 127.0.0.1 with the table dns_test.c expects,
runs dns_test against it, and stops the server.

  run_dns_test.py --test build/tests/dns/dns_test --server tests/dns/dns_server.py
"""

import argparse
import os
import subprocess
import sys
import tempfile

# Names the C test resolves (moving.test is in the table file it writes).
TABLE = [
    "fast.test=A:127.0.0.1",
    "slow.test=delay:2000,A:127.0.0.1",
    "nx.test=NXDOMAIN",
    "fail.test=SERVFAIL",
    "multi.test=A:127.0.0.2,A:127.0.0.1",
    "dual.test=AAAA:::1,A:127.0.0.1",
    "custom.test=A:127.0.0.1",
    "rate.test=A:127.0.0.1",
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--test", required=True)
    ap.add_argument("--server", required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="tern-dns-") as tmp:
        log = os.path.join(tmp, "queries.log")
        table = os.path.join(tmp, "table.txt")
        open(table, "w").close()
        server = subprocess.Popen(
            [sys.executable, args.server, "--log", log, "--table-file",
             table] + TABLE,
            stdout=subprocess.PIPE, text=True)
        try:
            line = server.stdout.readline()
            if not line.startswith("PORT "):
                print("dns_server.py did not start: %r" % line)
                return 1
            port = line.split()[1]
            print("dns_server.py on 127.0.0.1:%s" % port, flush=True)
            rc = subprocess.call([args.test, "--dns-port", port, "--log", log,
                                  "--table-file", table], timeout=240)
        finally:
            server.kill()
            server.wait()
        return rc


if __name__ == "__main__":
    sys.exit(main())
