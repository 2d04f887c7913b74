#!/usr/bin/env bash
# Minimize fuzz/corpus/TARGET in place, the inputs of any EXTRA directories added (say, the
# repository's corpus from before a run). An input is kept when it adds coverage in the
# AddressSanitizer build, or in the uninstrumented one (fuzz/target/nosan-none, built by
# `SANITIZER=none fuzz/campaign.sh`) when there is one: the two builds inline differently, so a
# corpus minimized on one alone can lose edges the other counts (seen when the sixth campaign
# minimized on the uninstrumented build only: fuzz/newcov.py on the ASan build then showed
# edges of `SigningKey::from_jwk` gone). The corpus is replaced only once the new one is whole.
#
#   fuzz/minimize.sh jwks                          # after a run
#   fuzz/minimize.sh jwks ../old/fuzz/corpus/jwks  # and keep what an older corpus reached
set -euo pipefail
cd "$(dirname "$0")/.."
t=${1:?target}
shift
triple=$(rustc -vV | sed -n 's/^host: //p')
mkdir -p fuzz/logs
log=fuzz/logs/$t.cmin.log
RUSTC_BOOTSTRAP=1 cargo fuzz build "$t" --fuzz-dir fuzz >"$log" 2>&1
bins=("fuzz/target/$triple/release/$t")
if [ -d fuzz/target/nosan-none ]; then
  RUSTC_BOOTSTRAP=1 cargo fuzz build "$t" -s none --target-dir fuzz/target/nosan-none \
    --fuzz-dir fuzz >>"$log" 2>&1
  bins+=("fuzz/target/nosan-none/$triple/release/$t")
fi
corpus=fuzz/corpus/$t
# Beside the corpus, so that both moves below are renames on one file system.
work=$(mktemp -d fuzz/.minimize-XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/kept"
for bin in "${bins[@]}"; do
  "$bin" -merge=1 "$work/kept" "$corpus" "$@" >>"$log" 2>&1
done
mv "$corpus" "$work/before"
mv "$work/kept" "$corpus"
echo "   $t: $(find "$corpus" -type f | wc -l) inputs kept ($(du -sh --apparent-size "$corpus" | cut -f1))"
