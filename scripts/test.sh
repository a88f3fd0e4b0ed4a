#!/usr/bin/env bash
# The whole test suite, as CI runs it: install dependencies, build with warnings as errors,
# run every test; then, from one clang build, the same tests under AddressSanitizer +
# UndefinedBehaviorSanitizer and each libFuzzer target for a short, bounded time; then the tests
# of threaded code (runtime, hub, LLM) under ThreadSanitizer.
#   FUZZ_SECONDS=N  seconds per fuzz target (default 20; 0 skips fuzzing)
#   SKIP_ASAN=1     skip the ASan + UBSan build (quicker local runs)
#   SKIP_TSAN=1     skip the ThreadSanitizer build
#   SKIP_PYTHON=1   skip the Python module and its pytest suite
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)
# Each stage's heading carries the time since the start, so a slow CI run shows where it went.
stage() { echo "=== $* [$(date -u +%H:%M:%S), ${SECONDS}s since start]"; }
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi

SKIP_BUILD=1 WITH_COREML_STAND_IN=1 bash scripts/setup.sh

# CI runs once on a clean clone: each build tree goes once its tests have passed, so the disk
# holds one tree at a time; the free space is printed before each build to explain a full disk.
free_space() { echo "--- free disk space: $(df -h --output=avail . | tail -1 | tr -d ' ')"; }
drop_tree_in_ci() { if [[ "${CI:-}" == "true" ]]; then rm -rf "$1"; fi; }

# The Python module is built in the Release tree (no second build of the library) with
# nanobind from a virtual environment that also holds the test dependencies (PyPI).
PYTHON_ARGS=()
PYTHON_VENV="$PWD/build/python-venv"
if [[ "${SKIP_PYTHON:-0}" != "1" ]]; then
  stage "Python test environment ($PYTHON_VENV)"
  if [[ ! -x "$PYTHON_VENV/bin/python" ]]; then python3 -m venv "$PYTHON_VENV"; fi
  "$PYTHON_VENV/bin/python" -m pip install -q --disable-pip-version-check \
    -r python/requirements-test.txt
  PYTHON_ARGS=(-DCOREML_BUILD_PYTHON=ON "-DPython_EXECUTABLE=$PYTHON_VENV/bin/python")
fi

stage "build (Release, warnings as errors)"
free_space
# The Release build also builds the Core ML backend against its stand-in (GNUstep, clang).
cmake -S . -B build "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release -DCOREML_WERROR=ON \
  -DCOREML_BUILD_BENCHMARKS=ON -DCOREML_BUILD_COREML_STAND_IN=ON "${PYTHON_ARGS[@]}"
cmake --build build -j "$JOBS"
stage "tests"
ctest --test-dir build --output-on-failure -j "$JOBS"
if [[ "${SKIP_PYTHON:-0}" != "1" ]]; then
  stage "Python tests"
  PYTHONPATH="$PWD/build/python" OMP_NUM_THREADS=1 "$PYTHON_VENV/bin/python" -m pytest \
    python/tests -q -p no:cacheprovider
fi

# One clang build serves both the ASan + UBSan tests and the fuzz targets: the library is
# instrumented for both, so CI compiles it once instead of twice. -O1 with line tables only, as
# OSS-Fuzz builds: reports still name file and line, and the tests run faster than at -O0
# (6 minutes on a Zen 4, where GCC's -O0 build had taken 11 on a slower AVX2 machine: not the
# same machine, but hostile_campaign 96 s against 291); asserts stay on.
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
WANT_ASAN=$([[ "${SKIP_ASAN:-0}" != "1" ]] && echo ON || echo OFF)
WANT_FUZZ=$([[ "$FUZZ_SECONDS" != "0" ]] && echo ON || echo OFF)
if [[ "$WANT_ASAN" == "ON" || "$WANT_FUZZ" == "ON" ]]; then
  drop_tree_in_ci build
  stage "build (ASan + UBSan, clang: tests $WANT_ASAN, fuzz targets $WANT_FUZZ)"
  free_space
  sanitized_flags="-O1 -gline-tables-only"
  CC=clang CXX=clang++ cmake -S . -B build-asan "${GENERATOR[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$sanitized_flags" \
    "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$sanitized_flags" -DCOREML_WERROR=ON -DCOREML_SANITIZE=ON \
    "-DCOREML_BUILD_TESTS=$WANT_ASAN" "-DCOREML_BUILD_FUZZERS=$WANT_FUZZ"
  # Without the tests only the fuzzers are built (no CLI, server or examples).
  targets=()
  if [[ "$WANT_ASAN" == "OFF" ]]; then targets=(--target coreml_fuzzers); fi
  cmake --build build-asan -j "$JOBS" "${targets[@]}"
  if [[ "$WANT_ASAN" == "ON" ]]; then
    stage "tests under ASan + UBSan"
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      ctest --test-dir build-asan --output-on-failure -j "$JOBS"
  fi
  if [[ "$WANT_FUZZ" == "ON" ]]; then
    # 20 s per target: the committed corpora seed each run.
    stage "fuzz targets (${FUZZ_SECONDS}s each)"
    for fuzzer in build-asan/bin/*_fuzz; do
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
  drop_tree_in_ci build-asan
fi

if [[ "${SKIP_TSAN:-0}" != "1" ]]; then
  # Only the test programs whose code runs on several threads (the thread pool of the runtime,
  # the Hub's concurrent downloads and extraction, generation, the server); each is a ctest label.
  TSAN_TESTS=(model_test op_conformance_test kernels_linalg_test kernels_reduction_test
              kernels_elementwise_test resource_limits_test hub_test extract_test
              llm_generate_test llm_golden_test packed_weights_test amx_gemm_test
              panel_product_test conv_pack_test
              prepared_kernels_test fusion_test server_test parallel_copy_test thread_pool_test)
  stage "build (ThreadSanitizer): ${TSAN_TESTS[*]}"
  free_space
  # Not -Werror here: g++ 12's flow analysis under -fsanitize=thread reports false
  # -Wstringop-overflow in library headers; the Release build above holds the warning line.
  # -O1 with line tables (-g1) compiles in about half the time of -O2 -g (executor.cpp 6.0 s
  # against 11.0 under TSan) and still names file and line in a race report.
  tsan_flags="-O1 -g1 -DNDEBUG"
  cmake -S . -B build-tsan "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOREML_WERROR=OFF \
    "-DCMAKE_C_FLAGS_RELWITHDEBINFO=$tsan_flags" "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=$tsan_flags" \
    -DCOREML_SANITIZE_THREAD=ON
  cmake --build build-tsan -j "$JOBS" --target "${TSAN_TESTS[@]}"
  stage "tests under ThreadSanitizer"
  labels=$(IFS='|'; echo "^(${TSAN_TESTS[*]})\$")
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp" \
    ctest --test-dir build-tsan --output-on-failure -j "$JOBS" -L "$labels"
  drop_tree_in_ci build-tsan
fi

stage "all tests passed"
