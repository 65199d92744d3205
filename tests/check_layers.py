#!/usr/bin/env python3
"""Check that no file of shim/ includes a header of a layer above its own.

Usage: check_layers.py [SHIM_DIR]   (default: the shim/ next to tests/)

The layers are listed in shim/LAYERS, bottom first.  Also fails when a file
of shim/ (.c or .h) belongs to no layer, or a layer names a file that does
not exist, so the list cannot drift from the tree.  Standard library only.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(ROOT, "shim")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def read_layers(path):
    layers = []
    for raw in open(path, encoding="utf-8"):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, _, files = line.partition(":")
        layers.append((name.strip(), files.split()))
    return layers


def module_of(filename):
    base = os.path.basename(filename)
    for suffix in (".c", ".h"):
        if base.endswith(suffix):
            return base[: -len(suffix)]
    return None


def main(shim=SHIM):
    layers = read_layers(os.path.join(shim, "LAYERS"))
    rank = {}
    for i, (name, files) in enumerate(layers):
        for f in files:
            if f in rank:
                print(f"shim/LAYERS: {f} is listed twice", file=sys.stderr)
                return 1
            rank[f] = (i, name)
    problems = []
    sources = sorted(f for f in os.listdir(shim) if f.endswith((".c", ".h")))
    present = set()
    for f in sources:
        mod = module_of(f)
        # hooks_family.h is a part of hooks.c, included once per family
        mod = "hooks" if mod == "hooks_family" else mod
        present.add(mod)
        if mod not in rank:
            problems.append(f"shim/{f}: not in any layer of shim/LAYERS")
            continue
        text = open(os.path.join(shim, f), encoding="utf-8").read()
        for inc in INCLUDE.findall(text):
            target = module_of(inc)
            if target == "hooks_family":
                target = "hooks"
            if target is None or target not in rank:
                continue   # .def tables, include/sslshim.h: data, not layers
            if rank[target][0] > rank[mod][0]:
                problems.append(
                    f"shim/{f} ({rank[mod][1]}) includes {inc} "
                    f"({rank[target][1]}), a layer above it")
    for mod in sorted(set(rank) - present):
        problems.append(f"shim/LAYERS names {mod}, which has no file in shim/")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"layers: {len(sources)} files in {len(layers)} layers, all includes point down")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
