#!/usr/bin/env bash
# A fuzz campaign: every target (or those named) for SECONDS each, on the grown corpus in
# fuzz/corpus/<target>, then the corpus minimized in place (fuzz/minimize.sh); one log per
# target in fuzz/logs/. Crashes land in fuzz/artifacts/<target>/ and become regression tests.
#
#   fuzz/campaign.sh 3600                 # an hour per target
#   fuzz/campaign.sh 600 revocations b64  # ten minutes for two of them
#   SANITIZER=none fuzz/campaign.sh 600   # without AddressSanitizer
#
# SANITIZER=none runs 1.4 to 8 times as many executions per second here (most likely ASan's
# allocator and quarantine, on these small inputs). tidepass itself has no unsafe code, so what
# ASan adds is checking the dependencies' unsafe code; debug assertions and overflow checks stay
# on either way. The uninstrumented build goes to its own target directory,
# fuzz/target/nosan-none, so the ASan build that fuzz/newcov.py uses is kept.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); runs on stable through RUSTC_BOOTSTRAP. At the
# end, fuzz/plateau.py says for each target whether its coverage stopped growing, and (from
# libFuzzer's -print_pcs lines) in whose code the second half's new edges are.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:?seconds per target}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(RUSTC_BOOTSTRAP=1 cargo fuzz list --fuzz-dir fuzz)
fi
san=()
if [ "${SANITIZER:-address}" != address ]; then
  san=(-s "$SANITIZER" --target-dir "fuzz/target/nosan-$SANITIZER")
fi
mkdir -p fuzz/logs
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "== $t: ${secs}s"
  # A copy of the corpus halfway through, for the plateau rule RELIABILITY.md gives
  # http_surface: `fuzz/newcov.py --runs 3 $t fuzz/logs/$t.half fuzz/corpus/$t` afterwards.
  rm -rf "fuzz/logs/$t.half"
  (sleep $((secs / 2)) && cp -r "fuzz/corpus/$t" "fuzz/logs/$t.half") &
  RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "${san[@]}" --fuzz-dir fuzz -- \
    -max_total_time="$secs" -print_final_stats=1 -print_pcs=1 >"fuzz/logs/$t.log" 2>&1 ||
    echo "   $t: FAILED, see fuzz/logs/$t.log and fuzz/artifacts/$t/"
  grep -E '^#[0-9]+' "fuzz/logs/$t.log" | tail -n 1 || true
  fuzz/minimize.sh "$t" || echo "   $t: minimizing FAILED, see fuzz/logs/$t.cmin.log"
done
# Where each target's coverage stands: a plateau, or still growing (fuzz/plateau.py).
python3 fuzz/plateau.py fuzz/logs "${targets[@]}"
