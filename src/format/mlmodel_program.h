// Internal to the .mlmodel reader: converts the protobuf ML Program (proto/coreml.proto,
// message Program) into the IR of src/mil/ir.h.
#pragma once

#include <string>

#include "mil/ir.h"
#include "proto/coreml.pb.h"

namespace coreml::format::detail {

// How deep tuples/lists/dicts, nested types and nested blocks may go. The protobuf parser's
// recursion limit bounds this already; the check keeps our own recursion honest too.
inline constexpr int kMaxIrNesting = 64;

// `source` prefixes error messages. Throws coreml::Error (kParse for malformed content,
// kUnsupported for data type codes this reader does not know). Consumes the blocks' operations
// (each is freed once converted); the rest of `program` stays as it was.
mil::Program convert_program(spec::Program& program, const std::string& source);

}  // namespace coreml::format::detail
