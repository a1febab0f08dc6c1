#!/usr/bin/env bash
# Fuzz smoke run (issue 9): build every cargo-fuzz target in fuzz/ once, run each
# for FUZZ_SECONDS (default 60), fail on a crash and print its input's path.
# Needs the nightly toolchain; without it, says so and succeeds (the stable test
# tests/tests/fuzz_corpus.rs still replays every committed seed).
# Usage: .ci/fuzz.sh [TARGET...]   (default: every target in fuzz/fuzz_targets/)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-60}"

if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  echo "fuzzing skipped: no nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  cargo +stable install cargo-fuzz --locked --version 0.13.2
fi

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for f in fuzz/fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

cd fuzz
# -O: release without cargo-fuzz's global debug assertions, so that
# fuzz/Cargo.toml's profile decides (ours on, mail-parser's off, as in tests).
cargo +nightly fuzz build -O

# The run's corpus grows in a temporary directory, seeded from the repository's;
# crash inputs go to fuzz/artifacts/<target>/ (ignored by git).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
touch "$work/start"
run() {
  local target="$1"
  mkdir -p "$work/$target" "artifacts/$target"
  cp corpus/"$target"/* "$work/$target/"
  cargo +nightly fuzz run -O "$target" "$work/$target" -- \
    -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
    -artifact_prefix="artifacts/$target/" -print_final_stats=1 \
    >"$work/$target.log" 2>&1
}
report() {
  local target="$1" status="$2"
  if [ "$status" -eq 0 ]; then
    local runs speed
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$target.log")"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/$target.log")"
    echo "fuzz $target: ok, ${seconds}s, ${runs:-?} runs, ${speed:-?} execs/s"
    return
  fi
  echo "fuzz $target: FAILED (exit $status)"
  tail -n 40 "$work/$target.log"
  find "artifacts/$target" -type f -newer "$work/start" | while read -r a; do
    echo "fuzz $target: crash input: fuzz/$a"
    echo "  reproduce: cd fuzz && cargo +nightly fuzz run -O $target $a"
  done
  failed+=("$target")
}

# One target per core at a time, each for its full time.
cores="$(nproc 2>/dev/null || echo 1)"
failed=()
for ((i = 0; i < ${#targets[@]}; i += cores)); do
  batch=("${targets[@]:i:cores}")
  pids=()
  for target in "${batch[@]}"; do
    run "$target" &
    pids+=($!)
  done
  for j in "${!batch[@]}"; do
    status=0
    wait "${pids[$j]}" || status=$?
    report "${batch[$j]}" "$status"
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found crashes in: ${failed[*]}" >&2
  exit 1
fi
