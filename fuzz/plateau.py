#!/usr/bin/env python3
"""Has a target's coverage stopped growing? Reads libFuzzer logs (fuzz/logs/<target>.log,
as fuzz/campaign.sh writes them) and prints, per target: executions, `cov` and `ft` at the
start and the end, and where in the run the last new `cov` came. "flat" is the share of the
run's executions after it: a run whose second half found no new edge (flat >= 50%) is what
RELIABILITY.md counts as a plateau (for `http_surface`, whose edge count varies between
processes, RELIABILITY.md judges by tidepass's source lines with newcov.py instead). A run
stopped early (Ctrl-C, SIGINT: "run interrupted") counts up to where it stopped.

When the log has libFuzzer's `-print_pcs=1` lines (campaign.sh passes it), it also says where
the edges found in the second half of the run are: in tidepass's own code (file and line), in
the harness, in the standard library, or in a dependency (by crate), so a run still finding
edges can be told apart from one that only reaches further into serde_json or ring.

    python3 fuzz/plateau.py [LOG_DIR] [target ...]
"""
import os
import re
import sys

LINE = re.compile(r"#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)")
# The function name may hold spaces (`<A as B>::f`); the source path is the last word.
NEW_PC = re.compile(r"\s*NEW_PC: 0x[0-9a-f]+ in (.*) (\S+)$")
UNITS = re.compile(r"stat::number_of_executed_units: (\d+)")
CRATE = re.compile(r"/registry/src/[^/]+/([A-Za-z0-9_\-]+?)-\d+\.\d+[^/]*/")


def origin(path):
    """Where a source path is: tidepass's src/, the harness, std, or a dependency crate."""
    # std, and the crates std vendors (hashbrown under /rust/deps/)
    if "/rustc/" in path or "/rust/deps/" in path:
        return "std"
    if "/fuzz/fuzz_targets/" in path:
        return "harness"
    m = CRATE.search(path)
    if m:
        return m[1]
    if "/src/" in path:
        return "tidepass " + path[path.rindex("/src/") + 1 :].rsplit(":", 1)[0]
    return "elsewhere"


def stats(path):
    init = done = None
    last_new = last_cov = None
    seen = None  # the last status line's (cov, ft)
    stopped = False
    pending = []  # NEW_PC lines come before the status line they belong to
    pcs = []  # (executions, origin)
    with open(path, errors="replace") as f:
        for line in f:
            pc = NEW_PC.match(line)
            if pc:
                pending.append(origin(pc[2]))
                continue
            if line.lstrip().startswith("NEW_PC: "):
                # No symbolizer in a build without a sanitizer (SANITIZER=none): newcov.py,
                # on the ASan build, says where these are.
                pending.append("not symbolized")
                continue
            if "run interrupted" in line:
                stopped = True
            units = UNITS.match(line)
            if units and stopped and done is None and seen is not None:
                done = (int(units[1]), *seen)
            m = LINE.match(line)
            if not m:
                continue
            n, kind, cov, ft = int(m[1]), m[2], int(m[3]), int(m[4])
            pcs.extend((n, o) for o in pending)
            pending = []
            seen = (cov, ft)
            if kind == "INITED":
                init, last_new, last_cov = (n, cov, ft), n, cov
                pcs = []
            elif last_cov is not None and cov > last_cov:
                last_new, last_cov = n, cov
            if kind == "DONE":
                done = (n, cov, ft)
    if init is None or done is None:
        return None
    late = {}
    for n, o in pcs:
        if n > done[0] / 2:
            late[o] = late.get(o, 0) + 1
    return init, done, last_new, late, stopped


def main():
    args = sys.argv[1:]
    log_dir = "fuzz/logs"
    if args and os.path.isdir(args[0]):
        log_dir, args = args[0], args[1:]
    targets = args or sorted(
        f[: -len(".log")]
        for f in os.listdir(log_dir)
        if f.endswith(".log") and not f.endswith(".cmin.log")
    )
    for t in targets:
        s = stats(os.path.join(log_dir, t + ".log"))
        if s is None:
            print(f"{t}: no finished run in {log_dir}")
            continue
        (_, c0, f0), (n, c1, f1), last, late, stopped = s
        flat = 1 - last / n
        verdict = "plateau" if flat >= 0.5 else "still growing"
        if stopped:
            verdict += ", stopped early"
        print(
            f"{t}: {n / 1e6:.2f} M executions, cov {c0} -> {c1}, ft {f0} -> {f1}, "
            f"last new cov at {last / 1e6:.2f} M ({flat:.0%} of the run flat: {verdict})"
        )
        if late:
            where = ", ".join(f"{o} ({k})" for o, k in sorted(late.items(), key=lambda x: -x[1]))
            print(f"    new PCs in the second half: {where}")


if __name__ == "__main__":
    main()
