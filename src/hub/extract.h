// Extraction of `X.mlmodelc.zip` files that model repositories ship instead of folders.
#pragma once

#include <string>

#include "coreml/export.h"

// Internal (not installed), but exported: coreml::llm extracts zipped parts of local folders.
COREML_PUBLIC_BEGIN

namespace coreml::hub {

// Extracts `zip_path` into `destination` (a folder that must not exist yet), through a temporary
// sibling folder and a rename, so `destination` appears complete or not at all. When the archive
// holds a single top-level folder named like `destination`, its contents become `destination`.
// Refuses (coreml::Error, nothing left behind) entries with absolute paths, `..` components,
// hard links, special files, or symlinks that do not resolve to something inside the folder;
// archives beyond the limits of coreml/limits.h (entries, uncompressed bytes, compression
// ratio), checked on the headers first and on the data as it comes. Interrupted by SIGINT,
// SIGTERM or SIGHUP, it removes its temporary folder before the signal ends the process;
// temporary folders of processes that died are removed on the next extraction.
void extract_model_zip(const std::string& zip_path, const std::string& destination);

}  // namespace coreml::hub

COREML_PUBLIC_END
