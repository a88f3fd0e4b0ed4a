// Fuzzes the `model.mil` text parser: any input must parse or throw coreml::Error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "coreml/error.h"
#include "format/mil_text_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const coreml::mil::Program program = coreml::format::parse_mil_text(text, "fuzz.mil");
    (void)coreml::mil::to_string(program);  // walks every value the parser produced
  } catch (const coreml::Error&) {
  }
  return 0;
}
