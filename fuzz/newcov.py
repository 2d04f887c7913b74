#!/usr/bin/env python3
"""What code a grown corpus reaches that the old one did not. Runs a built fuzz target over
each corpus once (`-runs=0 -print_coverage=1`, nothing is mutated) and prints every function
whose covered edges changed, with the source lines that are no longer among its uncovered
PCs. Use it on a run whose coverage is still creeping up, to see whether the new edges are
tidepass's own code or only deeper into a dependency.

    python3 fuzz/newcov.py TARGET OLD_CORPUS NEW_CORPUS

TARGET is the binary's name under fuzz/target/<triple>/release/ (build it first with
`cargo fuzz build`); OLD_CORPUS is, for example, a checkout's fuzz/corpus/TARGET from before
the campaign.
"""
import glob
import re
import subprocess
import sys

FUNC = re.compile(r"^(UN)?COVERED_FUNC: hits: \d+ edges: (\d+)/(\d+) (.+)$")


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


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    target, old_dir, new_dir = sys.argv[1:]
    found = glob.glob(f"fuzz/target/*/release/{target}")
    if not found:
        sys.exit(f"no fuzz/target/*/release/{target}: run cargo fuzz build first")
    old, new = coverage(found[0], old_dir), coverage(found[0], new_dir)
    changed = 0
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name, (0, 0, {})), new.get(name, (0, 0, {}))
        if a[0] == b[0]:
            continue
        changed += 1
        print(f"{b[0] - a[0]:+d} edges ({a[0]} -> {b[0]} of {b[1] or a[1]}): {name}")
        for where, k in sorted(a[2].items()):
            now = b[2].get(where, 0)
            if now < k:
                print(f"    now reached: {where} ({k - now} PC{'s' if k - now > 1 else ''})")
    if not changed:
        print("no function's covered edges changed")


if __name__ == "__main__":
    main()
