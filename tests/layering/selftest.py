#!/usr/bin/env python3
"""Self-test of check_layering.py: runs it on each fake tree under
fixtures/ and compares its exit status (0 for "clean", 1 for the others)
and its output (each fixture's expected.txt) with what they must be."""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "check_layering.py")
FIXTURES = os.path.join(HERE, "fixtures")


def main():
    failed = 0
    names = sorted(os.listdir(FIXTURES))
    for name in names:
        root = os.path.join(FIXTURES, name)
        with open(os.path.join(root, "expected.txt"), encoding="utf-8") as f:
            want_out = f.read()
        want_rc = 0 if name == "clean" else 1
        run = subprocess.run([sys.executable, SCRIPT, "--root", root],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
        ok = run.returncode == want_rc and run.stdout == want_out
        print("%s: %s (exit %d, want %d)" %
              ("ok" if ok else "FAIL", name, run.returncode, want_rc))
        if not ok:
            failed += 1
            print("--- expected\n%s--- got\n%s%s" %
                  (want_out, run.stdout, run.stderr))
    print("layering selftest: %d fixtures, %d failed" % (len(names), failed))
    return 1 if failed or not names else 0


if __name__ == "__main__":
    sys.exit(main())
