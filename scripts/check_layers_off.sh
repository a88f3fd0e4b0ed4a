#!/usr/bin/env bash
# Configures the project (no build) with -DCOREML_WITH_LLM=OFF -DCOREML_WITH_HUB=OFF and checks
# that the two layers are gone with their dependencies: curl, libarchive, PCRE2, utf8proc and
# yaml-cpp are not even looked up, and nothing under src/llm or src/hub is compiled.
#   scripts/check_layers_off.sh SOURCE_DIR
# Registered as the ctest `layers_off_configure`; a full core-only build is a local check.
set -euo pipefail
source_dir=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() {
  echo "check_layers_off: $*" >&2
  exit 1
}
generator=()
if command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S "$source_dir" -B "$work" "${generator[@]}" -DCOREML_WITH_LLM=OFF -DCOREML_WITH_HUB=OFF \
  >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure failed"; }
found=$(grep -iE '^[^#/]*(curl|archive|pcre2|utf8proc|yaml)' "$work/CMakeCache.txt" || true)
[[ -z "$found" ]] || fail "a build without llm and hub still looks up: $found"
compiled=$(grep -rlE '/src/(llm|hub)/' "$work" --include='*.ninja' --include='*.make' || true)
[[ -z "$compiled" ]] || fail "src/llm or src/hub compiled by: $compiled"
grep -qE '/src/runtime/executor\.cpp' -r "$work" --include='*.ninja' --include='*.make' ||
  fail "the core sources are missing from the build"
echo "without llm and hub: none of their sources or dependencies"
