#!/usr/bin/env python3
"""Sort a `perf record` profile's samples into where a refresh's CPU goes.

    python3 benches/perf_categories.py DIR/memory.perf.data [more.perf.data ...]

Reads `perf report --no-children --sort dso,sym` (self time per symbol) and adds the
percentages up by category, from the symbol's crate path or library. Prints one Markdown
table per file. The categories are judged from names only: a symbol inlined into another
counts for the one it was inlined into.
"""
import re
import subprocess
import sys

CATEGORIES = [
    ("kernel (syscalls, TCP on loopback, scheduling)", lambda dso, sym: dso.startswith("[kernel") or sym.startswith("[k]")),
    ("argon2 (the logins before the measured run)", lambda dso, sym: "argon2" in sym or "blake2" in sym.lower()),
    ("signature and hashes (ring)", lambda dso, sym: re.search(r"ring::|ring_core|ed25519|x25519|fiat_|GFp|sha512|sha256|p256|p384|ecp_nistz|bn_mul|ChaCha|poly1305|aws_lc|^fe_|^fe4_|^ge_|^x25519|^sc_|limbs_|LIMBS_|bn_", sym, re.I)),
    ("JSON (serde_json, serde)", lambda dso, sym: re.search(r"serde_json|serde::|serde_core", sym)),
    ("HTTP stack (hyper, http, axum, tower, httparse, forms)", lambda dso, sym: re.search(r"hyper|\bhttp::|httparse|axum|tower|form_urlencoded|h2::|matchit|percent_encoding", sym)),
    ("store client (redis, tokio-postgres, redb, dashmap)", lambda dso, sym: re.search(r"redis::|tokio_postgres|postgres_protocol|deadpool|redb::|dashmap|combine::", sym)),
    ("async runtime (tokio, mio, futures)", lambda dso, sym: re.search(r"tokio::|mio::|futures_|parking_lot|crossbeam", sym)),
    ("tidepass itself", lambda dso, sym: re.search(r"tidepass|auth_service", sym)),
    ("allocator and memory copies (libc)", lambda dso, sym: re.search(r"malloc|free|realloc|memcpy|memmove|memset|memcmp|_int_|calloc|cfree|tcache|unlink_chunk|malloc_consolidate", sym)),
    ("the store server (redis-server: commands, Lua, dict)", lambda dso, sym: "redis" in dso),
    ("libc number formatting and parsing (printf, strtod)", lambda dso, sym: re.search(r"printf|strtod|mpn|hack_digit|round_and_return", sym)),
    ("tracing, metrics", lambda dso, sym: re.search(r"tracing|metrics", sym)),
]


def categorize(path):
    out = subprocess.run(
        ["perf", "report", "-i", path, "--stdio", "--no-children", "--sort", "dso,sym",
         "-g", "none", "--percent-limit", "0", "-q"],
        capture_output=True, text=True, check=True,
    ).stdout
    totals = {name: 0.0 for name, _ in CATEGORIES}
    totals["other"] = 0.0
    others = {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+(\[[.k]\])\s+(.*)", line)
        if not m:
            continue
        pct, dso, kind, sym = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        sym = sym.strip()
        if kind == "[k]":
            sym = "[k] " + sym
        for name, test in CATEGORIES:
            if test(dso, sym):
                totals[name] += pct
                break
        else:
            totals["other"] += pct
            others[sym] = others.get(sym, 0.0) + pct
    print(f"\n**{path}**\n")
    print("| where | share of samples |")
    print("|---|---:|")
    for name, pct in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {pct:.1f}% |")
    top = sorted(others.items(), key=lambda kv: -kv[1])[:12]
    if top:
        print("\nlargest uncategorized: " + "; ".join(f"{s[:60]} {p:.1f}%" for s, p in top))


for p in sys.argv[1:]:
    categorize(p)
