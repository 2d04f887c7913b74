#!/usr/bin/env python3
"""rust-version in Cargo.toml must be at least every locked dependency's rust-version."""
import json
import subprocess
import sys

meta = json.loads(
    subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--all-features", "--locked"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
)


def key(v):
    return tuple(int(x) for x in (v.split(".") + ["0", "0"])[:3])


root = next(p for p in meta["packages"] if p["id"] == meta["resolve"]["root"])
ours = root.get("rust_version") or "0"
worst = max(
    ((p.get("rust_version") or "0", p["name"]) for p in meta["packages"] if p["id"] != root["id"]),
    key=lambda t: key(t[0]),
)
if key(worst[0]) > key(ours):
    sys.exit(f"rust-version {ours} is below {worst[1]}'s {worst[0]}: raise it in Cargo.toml")
print(f"rust-version {ours} covers every dependency (highest: {worst[1]} {worst[0]})")
