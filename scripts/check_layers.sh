#!/usr/bin/env bash
# The layers' link dependencies, on the built static libraries: coreml_core may use no symbol
# that only coreml_hub or coreml_llm defines, and coreml_hub none that only coreml_llm defines.
# (Shared builds get the same guarantee from -Wl,--no-undefined.)
#   scripts/check_layers.sh CORE.a [HUB.a|-] [LLM.a|-]
# Registered as the ctest `layer_symbols` of static builds.
set -euo pipefail
core=$1
hub=${2:--}
llm=${3:--}

defined() { nm -g --defined-only "$@" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u; }
# Symbols an archive uses but does not define itself.
needed() { comm -23 <(nm -g --undefined-only "$1" | awk '$1 == "U" { print $2 }' | sort -u) \
                    <(defined "$1"); }

status=0
check() {  # check LOWER_NAME LOWER.a UPPER_NAME UPPER.a
  local wrong
  wrong=$(comm -12 <(needed "$2") <(defined "$4") | c++filt)
  if [[ -n "$wrong" ]]; then
    echo "coreml_$1 uses symbols of coreml_$3 (a layer above it):" >&2
    head -n 20 <<<"$wrong" >&2
    status=1
  fi
}
[[ "$hub" == "-" ]] || check core "$core" hub "$hub"
[[ "$llm" == "-" ]] || check core "$core" llm "$llm"
[[ "$hub" == "-" || "$llm" == "-" ]] || check hub "$hub" llm "$llm"
count=$(needed "$core" | wc -l)
[[ "$count" -gt 0 ]] || { echo "no undefined symbols read from $core: is it an archive?" >&2; exit 1; }
[[ $status -ne 0 ]] || echo "layers are independent ($count external symbols used by core)"
exit $status
