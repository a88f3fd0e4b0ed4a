// Fuzzes the .mlmodelc.zip extractor: the input is the archive. Extraction must succeed or
// throw coreml::Error, leave no temporary folder behind, and never produce a link that leads
// out of the extracted folder.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "fuzz_files.h"
#include "hub/extract.h"

namespace fs = std::filesystem;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  coreml::ResourceLimits limits;
  limits.max_zip_entries = 1000;
  limits.max_zip_bytes = 64 << 20;
  coreml::set_resource_limits(limits);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path folder = coreml::fuzz::scratch_folder();
  const fs::path zip = folder / "part.mlmodelc.zip";
  const fs::path destination = folder / "part.mlmodelc";
  coreml::fuzz::write_file(zip, std::string_view(reinterpret_cast<const char*>(data), size));
  bool extracted = false;
  try {
    coreml::hub::extract_model_zip(zip.string(), destination.string());
    extracted = true;
  } catch (const coreml::Error&) {
  }
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (name != "part.mlmodelc.zip" && name != "part.mlmodelc") __builtin_trap();  // left over
  }
  if (extracted) {
    // Independent of the extractor's own check: every link resolves inside.
    const fs::path root = fs::canonical(destination);
    for (const auto& entry : fs::recursive_directory_iterator(destination)) {
      if (!entry.is_symlink()) continue;
      std::error_code error;
      const fs::path resolved = fs::weakly_canonical(entry.path(), error);
      if (error) __builtin_trap();
      const auto inside = resolved.lexically_relative(root);
      if (inside.empty() || *inside.begin() == "..") __builtin_trap();
    }
  }
  return 0;
}
