#!/usr/bin/env python3
"""Print criterion medians as a Markdown table with ratios to the first row of each group.

Usage: python3 benches/report.py [target/criterion] [group-prefix ...]
Reads <dir>/<group>/<bench>/new/estimates.json (criterion's own output).
"""
import json, os, sys

root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
prefixes = sys.argv[2:] or [""]

def fmt(ns):
    if ns >= 1e6: return f"{ns/1e6:.2f} ms"
    if ns >= 1e3: return f"{ns/1e3:.2f} µs"
    return f"{ns:.1f} ns"

for group in sorted(os.listdir(root)):
    if not any(group.startswith(p) for p in prefixes) or group == "report":
        continue
    rows = []
    for bench in os.listdir(os.path.join(root, group)):
        est = os.path.join(root, group, bench, "new", "estimates.json")
        if os.path.exists(est):
            rows.append((bench, json.load(open(est))["median"]["point_estimate"]))
    if not rows:
        continue
    floor = dict(rows).get("ring_raw")
    order = ["ring_raw", "tidepass", "tidepass_cold", "tidepass_warm"]
    rows.sort(key=lambda r: (order.index(r[0]) if r[0] in order else 9, r[0]))
    print(f"\n**{group.replace('_', '/', 1)}**\n")
    print("| contender | median | ÷ ring_raw |")
    print("| --- | ---: | ---: |")
    for name, ns in rows:
        ratio = f"{ns/floor:.2f}x" if floor else "-"
        print(f"| {name} | {fmt(ns)} | {ratio} |")
