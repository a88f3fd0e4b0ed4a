// Parses the shape strings of metadata.json: "[1, 64, 1024]" and "[[1, 1], [1, 64]]".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace coreml::format {

std::vector<int64_t> parse_shape_list(std::string_view text, const std::string& where);
std::vector<std::vector<int64_t>> parse_shape_lists(std::string_view text,
                                                    const std::string& where);

}  // namespace coreml::format
