#!/usr/bin/env python3
"""Turns a Swift symbol graph (swift symbolgraph-extract output) into a sorted, line-based
listing of the public API: one line per symbol, `Path.To.symbol: declaration`.

Usage: api_listing.py DIR MODULE  (reads DIR/MODULE.symbols.json and DIR/MODULE@*.symbols.json)
"""
import glob
import json
import os
import re
import sys


def declaration(symbol):
    text = "".join(f["spelling"] for f in symbol.get("declarationFragments", []))
    text = re.sub(r"\s+", " ", text).strip()
    constraints = symbol.get("swiftExtension", {}).get("constraints", [])
    if constraints:
        kinds = {"conformance": ":", "superclass": ":", "sameType": "=="}
        clause = ", ".join(
            f"{c['lhs']} {kinds.get(c['kind'], c['kind'])} {c['rhs']}" for c in constraints)
        text += f" (in extension where {clause})"
    return text


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    directory, module = sys.argv[1], sys.argv[2]
    paths = [os.path.join(directory, f"{module}.symbols.json")]
    paths += sorted(glob.glob(os.path.join(directory, f"{module}@*.symbols.json")))
    lines = set()
    for path in paths:
        graph = json.load(open(path, encoding="utf-8"))
        extended = os.path.basename(path)[len(module) + 1:-len(".symbols.json")]
        prefix = f"{extended}:" if extended else ""
        for symbol in graph["symbols"]:
            name = ".".join(symbol["pathComponents"])
            lines.add(f"{prefix}{name}: {declaration(symbol)}")
    for line in sorted(lines):
        print(line)


if __name__ == "__main__":
    main()
