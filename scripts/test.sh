#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build with warnings as errors,
# run every test; then the same tests under AddressSanitizer + UndefinedBehaviorSanitizer;
# then each libFuzzer target for a short, bounded time.
#   FUZZ_SECONDS=N  seconds per fuzz target (default 30; 0 skips fuzzing)
#   SKIP_ASAN=1     skip the sanitizer build (quicker local runs)
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi

SKIP_BUILD=1 bash scripts/setup.sh

echo "=== build (Release, warnings as errors)"
cmake -S . -B build "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release -DCOREML_WERROR=ON \
  -DCOREML_BUILD_BENCHMARKS=ON
cmake --build build -j "$JOBS"
echo "=== tests"
ctest --test-dir build --output-on-failure -j "$JOBS"

if [[ "${SKIP_ASAN:-0}" != "1" ]]; then
  echo "=== build (ASan + UBSan)"
  cmake -S . -B build-asan "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Debug -DCOREML_WERROR=ON \
    -DCOREML_SANITIZE=ON
  cmake --build build-asan -j "$JOBS"
  echo "=== tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j "$JOBS"
fi

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
if [[ "$FUZZ_SECONDS" != "0" ]]; then
  echo "=== fuzz targets (${FUZZ_SECONDS}s each)"
  CC=clang CXX=clang++ cmake -S . -B build-fuzz "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCOREML_BUILD_FUZZERS=ON -DCOREML_BUILD_TESTS=OFF
  cmake --build build-fuzz -j "$JOBS"
  for fuzzer in build-fuzz/bin/*_fuzz; do
    name=$(basename "$fuzzer")
    corpus="fuzz/corpus/$name"
    work=$(mktemp -d)
    seeds=()
    if [[ -d "$corpus" ]]; then seeds=("$corpus"); fi
    echo "--- $name"
    "$fuzzer" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 "$work" "${seeds[@]}" 2>&1 | tail -n 12
    rm -rf "$work"
  done
fi
echo "=== all tests passed"
