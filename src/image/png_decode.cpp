// PNG -> coreml::Image with libpng's classic API, which lets us choose every conversion.
//
// libpng reports errors by calling an error function that must not return; ours long-jumps
// back into decode_png_steps(). No C++ object with a destructor lives in that function's frame,
// and everything it changes after setjmp is in a heap object (PngJob), so the jump skips no
// destructor and leaves no indeterminate local behind.
#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <memory>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "image/decoders.h"

namespace coreml::image_detail {
namespace {

struct PngJob {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t position = 0;
  uint64_t max_pixels = 0;
  png_structp png = nullptr;
  png_infop info = nullptr;
  Image image;
  std::vector<png_bytep> rows;
  char message[256] = {};
  ErrorCode code = ErrorCode::kParse;

  ~PngJob() {
    if (png) png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  }
};

void on_error(png_structp png, png_const_charp text) {
  auto* job = static_cast<PngJob*>(png_get_error_ptr(png));
  std::snprintf(job->message, sizeof(job->message), "%s", text);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {
  // Warnings (an unknown ancillary chunk, a bad colour profile) do not change the pixels.
}

void read_bytes(png_structp png, png_bytep out, size_t count) {
  auto* job = static_cast<PngJob*>(png_get_io_ptr(png));
  if (count > job->size - job->position) png_error(png, "the file ends early (truncated)");
  std::memcpy(out, job->data + job->position, count);
  job->position += count;
}

// Returns false with job->message set when the picture is refused; libpng's errors jump back
// here and return false too.
bool decode_png_steps(PngJob* job) {
  if (setjmp(png_jmpbuf(job->png))) return false;
  png_set_read_fn(job->png, job, read_bytes);
  // Metadata chunks (text, profiles) are never needed for the pixels: bound what a compressed
  // one may inflate to, and how many may be kept, whatever libpng's build defaults are.
  png_set_chunk_malloc_max(job->png, 8u << 20);
  png_set_chunk_cache_max(job->png, 1000);
  png_read_info(job->png, job->info);
  const uint64_t width = png_get_image_width(job->png, job->info);
  const uint64_t height = png_get_image_height(job->png, job->info);
  if (too_many_pixels(width, height, job->max_pixels, job->message, sizeof(job->message))) {
    job->code = ErrorCode::kInvalidArgument;
    return false;
  }
  const int color_type = png_get_color_type(job->png, job->info);
  const int bit_depth = png_get_bit_depth(job->png, job->info);
  // Everything to 8-bit gray or RGB: 16-bit channels rounded to 8 (v * 255 / 65535), palettes
  // and low bit depths expanded, alpha (and tRNS transparency) dropped, interlacing undone.
  if (bit_depth == 16) png_set_scale_16(job->png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(job->png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(job->png);
  if (color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(job->png);
  png_set_interlace_handling(job->png);
  png_read_update_info(job->png, job->info);

  const int channels = png_get_channels(job->png, job->info);
  if ((channels != 1 && channels != 3) || png_get_bit_depth(job->png, job->info) != 8 ||
      png_get_rowbytes(job->png, job->info) != width * static_cast<uint64_t>(channels)) {
    std::snprintf(job->message, sizeof(job->message),
                  "unexpected pixel layout after conversion (%d channels)", channels);
    job->code = ErrorCode::kUnsupported;
    return false;
  }
  job->image.width = static_cast<int64_t>(width);
  job->image.height = static_cast<int64_t>(height);
  job->image.channels = channels;
  job->image.pixels.resize(width * height * static_cast<uint64_t>(channels));
  job->rows.resize(height);
  for (uint64_t y = 0; y < height; ++y) {
    job->rows[y] = job->image.pixels.data() + y * width * static_cast<uint64_t>(channels);
  }
  png_read_image(job->png, job->rows.data());
  png_read_end(job->png, nullptr);  // the chunks after the pixels, through IEND: truncation
  return true;
}

}  // namespace

Image decode_png(const uint8_t* data, size_t size, const std::string& source) {
  auto job = std::make_unique<PngJob>();
  job->data = data;
  job->size = size;
  job->max_pixels = resource_limits().max_image_pixels;
  job->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, job.get(), on_error, on_warning);
  if (job->png) job->info = png_create_info_struct(job->png);
  if (!job->png || !job->info) fail(ErrorCode::kInternal, source, ": cannot start libpng");
  if (!decode_png_steps(job.get())) fail(job->code, source, ": PNG: ", job->message);
  return std::move(job->image);
}

}  // namespace coreml::image_detail
