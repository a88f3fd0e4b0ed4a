// Where the Core ML backend keeps the models it compiles: +[MLModel compileModelAtURL:] turns a
// .mlpackage or .mlmodel into a .mlmodelc, which is slow, so each result is kept in a cache
// folder under a key made from the model's content (as ANEMLL and whisper.cpp do).
// Plain C++ (no Objective-C), so that it is tested on every platform.
#pragma once

#include <filesystem>
#include <string>

namespace coreml::backends::coreml_apple {

// The cache folder: $COREML_COMPILED_CACHE, else ~/Library/Caches/coreml-cpp/compiled on Apple
// platforms, else $XDG_CACHE_HOME (or ~/.cache)/coreml-cpp/compiled.
std::filesystem::path compiled_cache_folder();

// SHA-256 (hex) over every regular file of the model (a file, or a folder walked in sorted
// order): each file's relative path, size and bytes. Links are not followed; a model folder
// holding one is an Error.
std::string model_content_key(const std::filesystem::path& model);

// `folder`/`key`.mlmodelc
std::filesystem::path cached_compiled_path(const std::filesystem::path& folder,
                                           const std::string& key);

// Moves a freshly compiled .mlmodelc into the cache as `destination`, atomically: when another
// process got there first, its copy is kept and `compiled` is removed.
void store_compiled(const std::filesystem::path& compiled,
                    const std::filesystem::path& destination);

}  // namespace coreml::backends::coreml_apple
