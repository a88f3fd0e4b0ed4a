#!/usr/bin/env bash
# Installs the Debian packages coreml-cpp needs (only those missing), then configures and
# builds into build/ (Release). SKIP_BUILD=1 installs only. WITH_COREML_STAND_IN=1 also installs
# what the Linux test of the Core ML backend needs (GNUstep Foundation, the blocks runtime; see
# tests/coreml_stand_in). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build pkg-config git python3 python3-dev python3-venv
  clang libclang-rt-14-dev
  libprotobuf-dev protobuf-compiler
  nlohmann-json3-dev libyaml-cpp-dev libcurl4-openssl-dev libcli11-dev libhwy-dev
  libpcre2-dev libutf8proc-dev libarchive-dev libcpp-httplib-dev libdlpack-dev
  libpng-dev libjpeg62-turbo-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
if [[ "${WITH_COREML_STAND_IN:-0}" == "1" ]]; then
  PACKAGES+=(libgnustep-base-dev libblocksruntime-dev)
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

if [[ "${SKIP_BUILD:-0}" == "1" ]]; then
  exit 0
fi

GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi
cmake -S . -B build "${GENERATOR[@]}" -DCMAKE_BUILD_TYPE=Release ${COREML_CMAKE_ARGS:-}
cmake --build build -j "$(nproc)"
echo "setup: built build/bin/coreml"
