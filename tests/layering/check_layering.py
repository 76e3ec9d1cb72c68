#!/usr/bin/env python3
"""Checks the include structure of the library against its layers.

    check_layering.py [--root DIR]

DIR (default: the repository holding this script) must have src/ and
docs/architecture.md. The layer order is read from a line of that file:

    Layer order (bottom to top): common, loop, codec, transport, call, server | channel

where "a | b" are peers: neither may include the other. Each violation is
printed as file:line: what, and the exit status is 1 when there is one
(2 when the order line is missing). The rules:

  - an nghttp2/ header is included only under src/transport/ (HTTP/2 is
    the transport's alone);
  - a file of src/<layer>/ includes headers of its own layer or of layers
    below it, never above it nor of a peer;
  - no include cycle between units, where a unit is a .c file together
    with its same-named .h, its private <name>_int.h, and its layer's
    <layer>_int.h (so a layer's .c files including their own headers is
    no cycle, but two layers or two headers including each other are).

Only the standard library is used.
"""

import argparse
import os
import re
import sys

ORDER_RE = re.compile(r"Layer order \(bottom to top\):\s*`?([^`]+?)`?\s*$")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def read_order(root):
    """{layer: rank}, peers sharing a rank; None when no order line."""
    path = os.path.join(root, "docs", "architecture.md")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.readlines()
    except OSError:
        return None
    for line in lines:
        m = ORDER_RE.search(line.strip())
        if not m:
            continue
        ranks = {}
        for rank, group in enumerate(m.group(1).split(",")):
            for name in group.split("|"):
                name = name.strip()
                if name:
                    ranks[name] = rank
        return ranks or None
    return None


def source_files(src):
    """Paths (relative to src, with '/') of the .c and .h files."""
    out = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith((".c", ".h")):
                rel = os.path.relpath(os.path.join(dirpath, name), src)
                out.append(rel.replace(os.sep, "/"))
    return out


def includes(src, rel):
    """[(line number, '<' or '"', included name)] of one file."""
    found = []
    with open(os.path.join(src, rel), encoding="utf-8",
              errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE_RE.match(line)
            if m:
                found.append((n, m.group(1), m.group(2)))
    return found


def resolve(files, rel, name):
    """The src-relative file a quoted include names, or None: first as a
    path from src/ (how the library includes), then beside the file."""
    if name in files:
        return name
    beside = os.path.normpath(
        os.path.join(os.path.dirname(rel), name)).replace(os.sep, "/")
    return beside if beside in files else None


def layer_of(rel):
    """The layer (first folder under src/) of a file, or None at the top."""
    return rel.split("/", 1)[0] if "/" in rel else None


def unit_of(files, rel):
    """A unit name: a layer's <layer>_int.h stands for every .c and .h of
    the folder that has one; else a .c, its same-named .h and its
    <name>_int.h are one."""
    stem = os.path.splitext(rel)[0]
    # A file's private header (transport/h2_int.h, shared by h2.c and
    # h2_io.c) pairs with it as its same-named .h does.
    if rel.endswith("_int.h") and stem[:-len("_int")] + ".c" in files:
        stem = stem[:-len("_int")]
    layer = layer_of(rel)
    if layer is not None:
        layer_h = "%s/%s_int.h" % (layer, layer)
        if layer_h in files and os.path.dirname(rel) == layer:
            # A header of the folder that pairs with no .c and is not the
            # layer header is a unit of its own (queue.h, say).
            if rel.endswith(".c") or rel == layer_h or \
                    stem + ".c" in files:
                return layer_h
    return stem


def strongly_connected(graph):
    """Tarjan's components of {node: set(nodes)}, iteratively."""
    index, low, on_stack, stack, comps = {}, {}, set(), [], []
    counter = [0]
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter[0]
                    counter[0] += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    n = stack.pop()
                    on_stack.discard(n)
                    comp.append(n)
                    if n == node:
                        break
                comps.append(sorted(comp))
    return comps


def check(root):
    """(violations as printed lines, or None when the order is missing)."""
    ranks = read_order(root)
    if ranks is None:
        return None
    src = os.path.join(root, "src")
    files = set(source_files(src))
    out = []
    edges = {}  # (unit, unit) -> [(file, line, name)]
    graph = {}
    for rel in sorted(files):
        where = "src/" + rel
        layer = layer_of(rel)
        if layer is not None and layer not in ranks:
            out.append("%s:1: folder src/%s/ is not in the layer order" %
                       (where, layer))
        for line, kind, name in includes(src, rel):
            if name.startswith("nghttp2/") and layer != "transport":
                out.append("%s:%d: includes %s outside src/transport/ "
                           "(only the transport touches nghttp2)" %
                           (where, line, name))
            if kind != '"':
                continue
            target = resolve(files, rel, name)
            tlayer = layer_of(target) if target else (
                name.split("/", 1)[0] if "/" in name else None)
            if layer in ranks and tlayer in ranks and tlayer != layer:
                if ranks[tlayer] > ranks[layer]:
                    out.append("%s:%d: layer %s includes %s of layer %s, "
                               "which is above it" %
                               (where, line, layer, name, tlayer))
                elif ranks[tlayer] == ranks[layer]:
                    out.append("%s:%d: layer %s includes %s of its peer "
                               "layer %s" % (where, line, layer, name, tlayer))
            if target is None:
                continue
            a, b = unit_of(files, rel), unit_of(files, target)
            graph.setdefault(a, set())
            graph.setdefault(b, set())
            if a != b:
                graph[a].add(b)
                edges.setdefault((a, b), []).append((where, line, name))
    for comp in strongly_connected(graph):
        if len(comp) < 2:
            continue
        members = set(comp)
        names = ", ".join(comp)
        for (a, b), sites in sorted(edges.items()):
            if a in members and b in members:
                for where, line, name in sites:
                    out.append("%s:%d: includes %s: part of an include "
                               "cycle between %s" % (where, line, name, names))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(here)),
                    help="tree holding src/ and docs/architecture.md")
    args = ap.parse_args()
    found = check(args.root)
    if found is None:
        print("%s: no 'Layer order (bottom to top): ...' line" %
              os.path.join(args.root, "docs", "architecture.md"))
        return 2
    for line in found:
        print(line)
    if found:
        print("%d layering violation(s)" % len(found))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
