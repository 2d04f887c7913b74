#!/usr/bin/env python3
"""What code a grown corpus reaches that the old one did not. Runs a built fuzz target over
each corpus (`-runs=0 -print_coverage=1`, nothing is mutated) and prints every function
whose covered edges changed, with the source lines that are no longer among its uncovered
PCs, then the lines of tidepass's own source that the new corpus reaches and the old did not.
Use it on a run whose coverage is still creeping up, to see whether the new edges are
tidepass's own code or only deeper into a dependency.

    python3 fuzz/newcov.py [--runs K] TARGET OLD_CORPUS NEW_CORPUS

TARGET is the binary's name under fuzz/target/<triple>/release/ (build it first with
`cargo fuzz build`); OLD_CORPUS is, for example, a checkout's fuzz/corpus/TARGET from before
the campaign, or a copy of the corpus taken halfway through a run.

Coverage of one corpus is not the same from one process to the next where a target's code
depends on more than its input: `http_surface` mints random tokens and session ids, its hash
maps have per-process random seeds (so hashbrown's probe loops take other branches), and its
rate limiter reads the real clock. `newcov.py T C C` (one corpus against itself) shows that
noise: about ten edges in seven functions for `http_surface`. So each corpus runs K times
(default 3) and a change is reported only when every one of the K old/new pairs shows it, in
the same direction; K=1 is one pair, noise included.
"""
import argparse
import glob
import re
import subprocess

from plateau import origin

FUNC = re.compile(r"^(UN)?COVERED_FUNC: hits: \d+ edges: (\d+)/(\d+) (.+)$")
# Where a function is: the last word of its name, before any "(copy N)" this script added.
FUNC_AT = re.compile(r"(\S+:\d+)(?: \(copy \d+\))?$")


def coverage(binary, corpus):
    """function -> (covered edges, total, {uncovered source line: count})"""
    out = subprocess.run(
        [binary, "-runs=0", "-print_coverage=1", corpus],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    funcs, current = {}, None
    for line in (out.stdout + out.stderr).splitlines():
        m = FUNC.match(line)
        if m:
            # The same name can stand for several copies (inlined, or one per crate).
            current, k = m[4], 2
            while current in funcs:
                current, k = f"{m[4]} (copy {k})", k + 1
            funcs[current] = (int(m[2]), int(m[3]), {})
        elif current and line.strip().startswith("UNCOVERED_PC:"):
            where = line.split(":", 1)[1].strip()
            lines = funcs[current][2]
            lines[where] = lines.get(where, 0) + 1
    return funcs


def diff(old, new):
    """function -> (covered before, covered after, total, {line now reached: PCs})"""
    changes = {}
    for name in set(old) | set(new):
        a, b = old.get(name, (0, 0, {})), new.get(name, (0, 0, {}))
        if a[0] == b[0]:
            continue
        reached = {w: k - b[2].get(w, 0) for w, k in a[2].items() if b[2].get(w, 0) < k}
        changes[name] = (a[0], b[0], b[1] or a[1], reached)
    return changes


def agreed(pairs):
    """The changes every pair shows: same function, same direction; lines reached in all."""
    first, rest = pairs[0], pairs[1:]
    kept = {}
    for name, (a, b, total, reached) in first.items():
        others = [p.get(name) for p in rest]
        if any(o is None or (o[1] > o[0]) != (b > a) for o in others):
            continue
        lines = {w: k for w, k in reached.items() if all(w in o[3] for o in others)}
        kept[name] = (a, b, total, lines)
    return kept


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs per corpus (default 3)")
    ap.add_argument("target")
    ap.add_argument("old_corpus")
    ap.add_argument("new_corpus")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    found = glob.glob(f"fuzz/target/*/release/{args.target}")
    if not found:
        ap.exit(1, f"no fuzz/target/*/release/{args.target}: run cargo fuzz build first\n")
    pairs = [
        diff(coverage(found[0], args.old_corpus), coverage(found[0], args.new_corpus))
        for _ in range(args.runs)
    ]
    changes = agreed(pairs)
    own = set()
    for name in sorted(changes):
        a, b, total, reached = changes[name]
        print(f"{b - a:+d} edges ({a} -> {b} of {total}): {name}")
        at = FUNC_AT.search(name)
        if a == 0 and at and origin(at[1]).startswith("tidepass "):
            own.add(at[1])  # a function reached for the first time lists no lines
        for where, k in sorted(reached.items()):
            print(f"    now reached: {where} ({k} PC{'s' if k > 1 else ''})")
            if origin(where).startswith("tidepass "):
                own.add(where)
    runs = f"in all {args.runs} runs" if args.runs > 1 else "in one run"
    if not changes:
        print(f"no function's covered edges changed {runs}")
    print(f"tidepass source lines newly reached {runs}: {len(own)}")
    for where in sorted(own):
        print(f"    {where}")


if __name__ == "__main__":
    main()
