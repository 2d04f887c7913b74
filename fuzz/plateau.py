#!/usr/bin/env python3
"""Has a target's coverage stopped growing? Reads libFuzzer logs (fuzz/logs/<target>.log,
as fuzz/campaign.sh writes them) and prints, per target: executions, `cov` and `ft` at the
start and the end, and where in the run the last new `cov` came. "flat" is the share of the
run's executions after it: a run whose second half found no new edge (flat >= 50%) is what
RELIABILITY.md counts as a plateau.

    python3 fuzz/plateau.py [LOG_DIR] [target ...]
"""
import os
import re
import sys

LINE = re.compile(r"#(\d+)\s+(\w+)\s+cov: (\d+) ft: (\d+)")


def stats(path):
    init = done = None
    last_new = last_cov = None
    with open(path, errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if not m:
                continue
            n, kind, cov, ft = int(m[1]), m[2], int(m[3]), int(m[4])
            if kind == "INITED":
                init, last_new, last_cov = (n, cov, ft), n, cov
            elif last_cov is not None and cov > last_cov:
                last_new, last_cov = n, cov
            if kind == "DONE":
                done = (n, cov, ft)
    if init is None or done is None:
        return None
    return init, done, last_new


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
        (_, c0, f0), (n, c1, f1), last = s
        flat = 1 - last / n
        verdict = "plateau" if flat >= 0.5 else "still growing"
        print(
            f"{t}: {n / 1e6:.2f} M executions, cov {c0} -> {c1}, ft {f0} -> {f1}, "
            f"last new cov at {last / 1e6:.2f} M ({flat:.0%} of the run flat: {verdict})"
        )


if __name__ == "__main__":
    main()
