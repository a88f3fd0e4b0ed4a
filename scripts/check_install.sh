#!/usr/bin/env bash
# What a user of an installed coreml-cpp gets: installs a built tree into a temporary prefix,
# checks what landed there (headers, libraries, CLI, CMake package, pkg-config files, version),
# then builds examples/ against it as an outside project twice, once with CMake's
# find_package(coreml) (examples/CMakeLists.txt) and once with a Makefile and pkg-config
# (examples/Makefile), and runs the programs.
#   scripts/check_install.sh [BUILD_DIR]     (default: build; it must be built already)
# Registered as the ctest `install_test` of non-sanitized builds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
fail() {
  echo "check_install: $*" >&2
  exit 1
}

echo "--- cmake --install $build --prefix $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log"

# --- what is installed ------------------------------------------------------------------
pc=$(find "$prefix" -path '*/pkgconfig/coreml.pc' | head -n 1)
[[ -n "$pc" ]] || fail "no coreml.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/bin/coreml" "$prefix/include/coreml/model.h" \
  "$prefix/include/coreml/version.h" "$prefix/include/coreml/export.h" \
  "$libdir/cmake/coreml/coremlConfig.cmake" "$libdir/cmake/coreml/coremlConfigVersion.cmake" \
  "$libdir/cmake/coreml/coremlTargets.cmake" "$libdir/pkgconfig/coreml-core.pc"; do
  [[ -e "$f" ]] || fail "not installed: ${f#"$prefix"/}"
done
compgen -G "$libdir/libcoreml_core.*" >/dev/null || fail "no libcoreml_core in $libdir"
# Public headers only (internal ones stay in src/), and each compiles on its own.
stray=$(find "$prefix/include" -type f ! -path "$prefix/include/coreml/*")
[[ -z "$stray" ]] || fail "headers installed outside include/coreml: $stray"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cflags=$(pkg-config --cflags coreml)
mapfile -t headers < <(cd "$prefix/include" && find coreml -name '*.h' | sort)
echo "--- ${#headers[@]} installed headers, each compiled alone"
for header in "${headers[@]}"; do
  # shellcheck disable=SC2086
  echo "#include \"$header\"" | c++ -std=c++20 -fsyntax-only $cflags -x c++ - ||
    fail "installed header $header does not compile on its own"
done
# Shared libraries export the public API only: no symbol of an internal namespace or of the
# protobuf classes, except the few helpers the layers share (src/format/file_util.h,
# json_util.h, src/runtime/limits.h, src/kernels/common/convert_simd.h, src/hub/extract.h).
shared_helpers='coreml::(format::(read_small_file|read_optional_file|read_input_file|path_is_within|check_json_depth|parse_json|parse_ordered_json)|runtime::(resource_limits_from_environment|checked_element_count|check_tensor_budget|check_buffer_budget|check_activation_allocation|byte_text)|kernels::f(16|32)_to_f(32|16)(_scalar)?|hub::extract_model_zip)(\[abi:cxx11\])?\('
for so in "$libdir"/libcoreml_*.so; do
  [[ -e "$so" ]] || continue
  exported=$(nm -D --defined-only "$so" | awk '{ print $3 }' | c++filt)
  [[ "$exported" == *"coreml::"* ]] || fail "$so exports no coreml:: symbol"
  # (Instantiations of std templates over types the public headers declare do not count.)
  leaked=$(grep -E '^((typeinfo|typeinfo name|vtable|VTT|guard variable) for )?(coreml::(mil|kernels|runtime|format|backends|tensor_detail|llm::(jinja|tok|detail)|hub::detail)::|CoreML::)' <<<"$exported" |
    grep -Ev "^$shared_helpers" || true)
  [[ -z "$leaked" ]] || fail "$so exports internal symbols: $(head -n 5 <<<"$leaked")"
  echo "$(basename "$so"): $(wc -l <<<"$exported") exported symbols, none internal"
done
# One version everywhere: the CLI, pkg-config, the CMake package (checked by the project below).
version=$(pkg-config --modversion coreml)
[[ "$("$prefix/bin/coreml" --version)" == "coreml $version" ]] ||
  fail "coreml --version says '$("$prefix/bin/coreml" --version)', coreml.pc says $version"

# --- the examples, built as outside projects ------------------------------------------------
# Expected output of predict: the accumulator model adds x = [1 2 3 4] to its state on every
# call (tools/fixtures/make_models.py), so the three calls return x, 2x and 3x.
check_programs() {
  local dir=$1
  local out
  out=$("$dir/predict" "$root/examples/models/accumulator.mlpackage") ||
    fail "$dir/predict failed"
  local expected=("1, 2, 3, 4" "2, 4, 6, 8" "3, 6, 9, 12")
  for i in 0 1 2; do
    local line
    line=$(sed -n "$((i + 1))p" <<<"$out")
    [[ "$line" == *"${expected[$i]}"* ]] ||
      fail "$dir/predict call $((i + 1)) printed '$line', expected the values ${expected[$i]}"
  done
  if [[ -x "$dir/generate" ]]; then
    # The tiny model's weights are random: only the run itself and its statistics line count.
    out=$("$dir/generate" "$root/examples/tiny-qwen3" "Hello") || fail "$dir/generate failed"
    [[ "$out" == *" tokens, "*" tok/s]"* ]] || fail "$dir/generate printed: $out"
  fi
  echo "$dir: ran $(find "$dir" -maxdepth 1 -type f -executable | wc -l) programs"
}

echo "--- examples/CMakeLists.txt with find_package(coreml)"
cmake -S "$root/examples" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_BUILD_TYPE=Debug >"$work/configure.log" ||
  { cat "$work/configure.log"; fail "configuring examples/ against the installed package failed"; }
found=$(sed -n 's/^coreml_DIR:PATH=//p' "$work/cmake-build/CMakeCache.txt")
[[ "$found" == "$libdir/cmake/coreml" ]] || fail "find_package(coreml) found $found"
cmake --build "$work/cmake-build" -j 2 >"$work/build.log" ||
  { cat "$work/build.log"; fail "building examples/ with CMake failed"; }
check_programs "$work/cmake-build"

echo "--- examples/Makefile with pkg-config"
mkdir -p "$work/make-build"
make -s -C "$root/examples" -j 2 OUT="$work/make-build" CXXFLAGS=-O0 ||
  fail "building examples/ with make and pkg-config failed"
check_programs "$work/make-build"
echo "--- install check passed"
