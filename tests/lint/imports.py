#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""imports.py - no import circle among a folder's modules.

    tests/lint/imports.py DIR...

A module is a .c file with its .h (sl_path.c and sl_path.h are module
sl_path); X_int.h is module X's private header, shared by the files X is
split into (control/sl_config_int.h). Module A imports B when a file of A includes B's header. The
modules of each DIR must form no circle: then every module can be read,
tested and changed knowing only those below it. Prints each circle (its
modules and the includes that close it) and exits 1; prints the order of
the modules, lowest first, and exits 0 when there is none.
"""
import os
import re
import sys


def module(f):
    name = f.rsplit(".", 1)[0]
    if f.endswith("_int.h"):
        name = name[: -len("_int")]
    return name


def graph(d):
    files = [f for f in os.listdir(d) if f.endswith((".c", ".h"))]
    mods = {module(f) for f in files}
    edges = {m: {} for m in mods}
    for f in sorted(files):
        with open(os.path.join(d, f), encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r'#include "(\S+)\.h"', line)
                if not m:
                    continue
                target = module(m.group(1) + ".h")
                if target in mods and target != module(f):
                    edges[module(f)].setdefault(target, f)
    return edges


def circles(edges):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def order(edges):
    done, out = set(), []

    def visit(v):
        if v in done:
            return
        done.add(v)
        for w in sorted(edges[v]):
            visit(w)
        out.append(v)

    for v in sorted(edges):
        visit(v)
    return out


def main(dirs):
    bad = False
    for d in dirs:
        edges = graph(d)
        found = circles(edges)
        for comp in found:
            bad = True
            print("%s: import circle among %s" % (d, ", ".join(comp)))
            for a in comp:
                for b, f in sorted(edges[a].items()):
                    if b in comp:
                        print("  %s includes %s.h" % (f, b))
        if not found:
            print("%s: no import circle; modules lowest first: %s" %
                  (d, " ".join(order(edges))))
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1:]))
