// JPEG -> coreml::Image with libjpeg(-turbo).
//
// libjpeg's default error handler calls exit(); ours long-jumps back into decode_jpeg_steps().
// No C++ object with a destructor lives in that function's frame and everything it changes
// after setjmp is in a heap object (JpegJob), so the jump skips no destructor. Warnings
// ("premature end of JPEG file", "corrupt JPEG data") are errors too: libjpeg would otherwise
// return a picture with made-up pixels.
#include <csetjmp>
#include <cstdio>
#include <memory>

// jpeglib.h needs size_t and FILE declared first.
#include <jpeglib.h>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "image/decoders.h"

namespace coreml::image_detail {
namespace {

// A progressive JPEG may hold thousands of tiny scans, each a full pass over the coefficients:
// a few kilobytes that take minutes. Real encoders write about ten; libjpeg-turbo's own fuzzers
// stop at 500.
constexpr int kMaxScans = 500;

struct JpegJob {
  jpeg_decompress_struct cinfo{};
  jpeg_error_mgr errors{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump{};
  bool created = false;
  uint64_t max_pixels = 0;
  Image image;
  char message[JMSG_LENGTH_MAX + 64] = {};
  ErrorCode code = ErrorCode::kParse;

  ~JpegJob() {
    if (created) jpeg_destroy_decompress(&cinfo);
  }
};

JpegJob* job_of(j_common_ptr cinfo) { return static_cast<JpegJob*>(cinfo->client_data); }

[[noreturn]] void on_error(j_common_ptr cinfo) {
  JpegJob* job = job_of(cinfo);
  (*cinfo->err->format_message)(cinfo, job->message);
  std::longjmp(job->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);  // a warning: corrupt or truncated data
}

void on_output_message(j_common_ptr) {}

void on_progress(j_common_ptr cinfo) {
  auto* decompress = reinterpret_cast<j_decompress_ptr>(cinfo);
  if (decompress->input_scan_number > kMaxScans) {
    JpegJob* job = job_of(cinfo);
    std::snprintf(job->message, sizeof(job->message),
                  "more than %d scans (a progressive JPEG this fragmented is refused)", kMaxScans);
    std::longjmp(job->jump, 1);
  }
}

bool decode_jpeg_steps(JpegJob* job, const uint8_t* data, size_t size) {
  job->cinfo.client_data = job;  // kept by jpeg_create_decompress, which may fail already
  if (setjmp(job->jump)) return false;
  jpeg_create_decompress(&job->cinfo);
  job->created = true;
  job->cinfo.progress = &job->progress;
  jpeg_mem_src(&job->cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&job->cinfo, TRUE);

  const uint64_t width = job->cinfo.image_width;
  const uint64_t height = job->cinfo.image_height;
  if (too_many_pixels(width, height, job->max_pixels, job->message, sizeof(job->message))) {
    job->code = ErrorCode::kInvalidArgument;
    return false;
  }
  switch (job->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: job->cinfo.out_color_space = JCS_GRAYSCALE; break;
    case JCS_CMYK:
    case JCS_YCCK:
      // Print shops' CMYK needs a colour profile to become RGB; a naive formula would give
      // wrong colours silently.
      std::snprintf(job->message, sizeof(job->message),
                    "CMYK JPEGs are not supported; convert the picture to RGB first");
      job->code = ErrorCode::kUnsupported;
      return false;
    default: job->cinfo.out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(&job->cinfo);
  const int channels = job->cinfo.output_components;
  if ((channels != 1 && channels != 3) || job->cinfo.output_width != width ||
      job->cinfo.output_height != height) {
    std::snprintf(job->message, sizeof(job->message), "unexpected output layout (%d channels)",
                  channels);
    job->code = ErrorCode::kUnsupported;
    return false;
  }
  job->image.width = static_cast<int64_t>(width);
  job->image.height = static_cast<int64_t>(height);
  job->image.channels = channels;
  job->image.pixels.resize(width * height * static_cast<uint64_t>(channels));
  while (job->cinfo.output_scanline < height) {
    JSAMPROW row = job->image.pixels.data() +
                   job->cinfo.output_scanline * width * static_cast<uint64_t>(channels);
    jpeg_read_scanlines(&job->cinfo, &row, 1);
  }
  jpeg_finish_decompress(&job->cinfo);
  return true;
}

}  // namespace

Image decode_jpeg(const uint8_t* data, size_t size, const std::string& source) {
  auto job = std::make_unique<JpegJob>();
  job->max_pixels = resource_limits().max_image_pixels;
  job->cinfo.err = jpeg_std_error(&job->errors);
  job->errors.error_exit = on_error;
  job->errors.emit_message = on_message;
  job->errors.output_message = on_output_message;
  job->progress.progress_monitor = on_progress;
  if (!decode_jpeg_steps(job.get(), data, size)) fail(job->code, source, ": JPEG: ", job->message);
  return std::move(job->image);
}

}  // namespace coreml::image_detail
