#!/usr/bin/env bash
# Fuzz auth_core's token, claims, key and JSON harnesses with libFuzzer on stable Rust (the
# sanitizer-coverage passes are stable -C flags; cargo fuzz itself wants nightly).
# Usage: bash fuzz/run.sh [SECONDS_PER_TARGET=60] [TARGETS...]
# A crash is written to fuzz/artifacts/<target>/; copy it to core/testdata/fuzz/<target>/
# so that `cargo test -p auth_core` replays it for ever.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(token claims key json)
triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
cargo build --release -q --manifest-path "$here/Cargo.toml" --target "$triple" --bins
unset RUSTFLAGS
work="$here/../target/fuzz"
cargo run -q --release --manifest-path "$here/../core/Cargo.toml" --example fuzz_seeds -- "$work/seeds"
for t in "${targets[@]}"; do
  mkdir -p "$work/corpus/$t" "$here/artifacts/$t" "$work/seeds/$t"
  echo "==> fuzz $t for ${secs}s"
  "$here/target/$triple/release/$t" "$work/corpus/$t" "$work/seeds/$t" "$here/../core/testdata/fuzz/$t" \
    -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$here/artifacts/$t/" 2>&1 | grep -E '^(stat::|#[0-9]+ +DONE|==|SUMMARY|.*(panicked|ERROR|crash))' || true
  if [ -n "$(ls -A "$here/artifacts/$t")" ]; then
    echo "fuzz $t: failing input(s) in $here/artifacts/$t" >&2
    exit 1
  fi
done
