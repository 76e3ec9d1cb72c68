#!/usr/bin/env python3
"""The ABI's committed list: libtern.so exports exactly the names of
src/libtern.map, each at a version node of that file, and carries the
SONAME of ABI 1. Usage: check_symbols.py <libtern.so> <libtern.map>"""
import re
import subprocess
import sys

SONAME = "libtern.so.1"


def committed(map_path):
    text = re.sub(r"/\*.*?\*/", "", open(map_path).read(), flags=re.S)
    names, nodes = set(), set(re.findall(r"([\w.]+)\s*\{", text))
    for block in re.findall(r"global:(.*?)local:", text, flags=re.S):
        names.update(n.strip() for n in block.split(";") if n.strip())
    return names, nodes


def exported(lib, nodes):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                         capture_output=True, text=True).stdout
    syms = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        name, _, node = parts[2].partition("@@")
        if not node:
            name, _, node = parts[2].partition("@")
        if name == node or (not node and name in nodes):
            continue  # a version node's own definition
        syms[name] = node
    return syms


def soname(lib):
    out = subprocess.run(["objdump", "-p", lib], check=True,
                         capture_output=True, text=True).stdout
    m = re.search(r"SONAME\s+(\S+)", out)
    return m.group(1) if m else None


def main():
    lib, map_path = sys.argv[1], sys.argv[2]
    want, nodes = committed(map_path)
    have = exported(lib, nodes)
    failures = 0
    print(f"check: {lib} exports exactly the {len(want)} names of {map_path}")
    for name in sorted(set(have) - want):
        print(f"FAIL exported but not in the committed list: {name}")
        failures += 1
    for name in sorted(want - set(have)):
        print(f"FAIL in the committed list but not exported: {name}")
        failures += 1
    for name, node in sorted(have.items()):
        if name in want and node not in nodes:
            print(f"FAIL {name} has version node '{node}', not one of {sorted(nodes)}")
            failures += 1
    internal = [n for n in have if not n.startswith("tern_") or n.startswith("tern__")]
    print(f"check: no internal or foreign symbol exported ({len(internal)} found)")
    failures += len(internal)
    got = soname(lib)
    print(f"check: SONAME is {SONAME} (got {got})")
    if got != SONAME:
        print("FAIL wrong SONAME")
        failures += 1
    print("PASS" if failures == 0 else f"FAIL {failures} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
