#include "runtime/limits.h"

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <mutex>

#include "coreml/error.h"

namespace coreml {
namespace {

// "8G", "512MiB", "1e9", "4096": a byte count with an optional binary unit.
uint64_t parse_bytes(const char* name, const std::string& text) {
  char* end = nullptr;
  const double number = std::strtod(text.c_str(), &end);
  std::string unit(end);
  while (!unit.empty() && unit.back() == ' ') unit.pop_back();
  double scale = 1;
  if (unit.empty() || unit == "B") {
  } else if (unit == "K" || unit == "KiB" || unit == "KB") {
    scale = 1024.0;
  } else if (unit == "M" || unit == "MiB" || unit == "MB") {
    scale = 1024.0 * 1024;
  } else if (unit == "G" || unit == "GiB" || unit == "GB") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "T" || unit == "TiB" || unit == "TB") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else {
    scale = -1;
  }
  const double bytes = number * scale;
  if (end == text.c_str() || scale < 0 || !std::isfinite(bytes) || bytes < 1 || bytes > 9.2e18) {
    fail(ErrorCode::kInvalidArgument, "environment variable ", name, "='", text,
         "': expected a byte count such as 8G, 512M or 1073741824");
  }
  return static_cast<uint64_t>(bytes);
}

double parse_positive(const char* name, const std::string& text, double max) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !std::isfinite(value) || value <= 0 || value > max) {
    fail(ErrorCode::kInvalidArgument, "environment variable ", name, "='", text,
         "': expected a positive number (at most ", max, ")");
  }
  return value;
}

}  // namespace

ResourceLimits runtime::resource_limits_from_environment() {
  ResourceLimits limits;
  auto env = [](const char* name) -> const char* {
    const char* value = std::getenv(name);
    return value && *value ? value : nullptr;
  };
  if (const char* v = env("COREML_MAX_TENSOR_BYTES")) {
    limits.max_tensor_bytes = parse_bytes("COREML_MAX_TENSOR_BYTES", v);
  }
  if (const char* v = env("COREML_MAX_ACTIVATION_BYTES")) {
    limits.max_activation_bytes = parse_bytes("COREML_MAX_ACTIVATION_BYTES", v);
  }
  if (const char* v = env("COREML_MAX_LOOP_SECONDS")) {
    limits.max_loop_seconds = parse_positive("COREML_MAX_LOOP_SECONDS", v, 1e9);
  }
  if (const char* v = env("COREML_MAX_LOOP_ITERATIONS")) {
    limits.max_loop_iterations =
        static_cast<int64_t>(parse_positive("COREML_MAX_LOOP_ITERATIONS", v, 9e18));
  }
  if (const char* v = env("COREML_MAX_ZIP_ENTRIES")) {
    limits.max_zip_entries =
        static_cast<uint64_t>(parse_positive("COREML_MAX_ZIP_ENTRIES", v, 1e12));
  }
  if (const char* v = env("COREML_MAX_ZIP_BYTES")) {
    limits.max_zip_bytes = parse_bytes("COREML_MAX_ZIP_BYTES", v);
  }
  if (const char* v = env("COREML_MAX_ZIP_RATIO")) {
    limits.max_zip_ratio = parse_positive("COREML_MAX_ZIP_RATIO", v, 1e12);
  }
  if (const char* v = env("COREML_MAX_IMAGE_PIXELS")) {
    limits.max_image_pixels =
        static_cast<uint64_t>(parse_positive("COREML_MAX_IMAGE_PIXELS", v, 1e15));
  }
  return limits;
}

namespace {

std::mutex limits_mutex;
std::optional<ResourceLimits> current_limits;

}  // namespace

ResourceLimits resource_limits() {
  std::lock_guard<std::mutex> lock(limits_mutex);
  if (!current_limits) current_limits = runtime::resource_limits_from_environment();
  return *current_limits;
}

void set_resource_limits(const ResourceLimits& limits) {
  std::lock_guard<std::mutex> lock(limits_mutex);
  current_limits = limits;
}

namespace runtime {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    text += (i ? ", " : "") + std::to_string(shape[i]);
  }
  return text + "]";
}

}  // namespace

std::string byte_text(uint64_t bytes) {
  static const char* const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  char text[48];
  if (unit == 0) {
    std::snprintf(text, sizeof(text), "%llu bytes", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(text, sizeof(text), "%.4g %s", value, units[unit]);
  }
  return text;
}

std::optional<int64_t> checked_element_count(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(count, d, &count)) return std::nullopt;
  }
  return count;
}

void check_buffer_budget(uint64_t elements, size_t item_bytes, std::string_view what,
                         std::string_view where) {
  const uint64_t budget = resource_limits().max_tensor_bytes;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(elements, static_cast<uint64_t>(item_bytes), &bytes) ||
      bytes > budget) {
    fail(ErrorCode::kInvalidArgument, where, what, " needs ",
         bytes / item_bytes == elements ? byte_text(bytes) : std::string("more than 16 EiB"),
         ", more than the ", byte_text(budget),
         " allowed for one tensor (raise COREML_MAX_TENSOR_BYTES if the model is right)");
  }
}

void check_tensor_budget(const std::vector<int64_t>& shape, DType dtype, std::string_view where) {
  const auto count = checked_element_count(shape);
  if (!count) {
    fail(ErrorCode::kInvalidArgument, where, "a tensor of shape ", shape_text(shape),
         " is impossible (negative dimension or more than 2^63 elements)");
  }
  check_buffer_budget(static_cast<uint64_t>(*count), dtype_size(dtype),
                      detail::cat("a ", dtype_name(dtype), " tensor of shape ", shape_text(shape)),
                      where);
}

void check_activation_allocation(const std::vector<int64_t>& shape, DType dtype,
                                 int64_t held_bytes) {
  check_tensor_budget(shape, dtype, "activation: ");
  const uint64_t bytes = static_cast<uint64_t>(*checked_element_count(shape)) * dtype_size(dtype);
  const uint64_t budget = resource_limits().max_activation_bytes;
  if (static_cast<uint64_t>(held_bytes) + bytes > budget) {
    fail(ErrorCode::kInvalidArgument, "activation: a ", dtype_name(dtype), " tensor of shape ",
         shape_text(shape), " would bring the activation buffers of this prediction to ",
         byte_text(static_cast<uint64_t>(held_bytes) + bytes), ", more than the ",
         byte_text(budget), " allowed (raise COREML_MAX_ACTIVATION_BYTES if the model is right)");
  }
}

}  // namespace runtime
}  // namespace coreml
