// Image inputs (coreml/image.h): decoding, resizing, the tensor an image feature expects, and
// `coreml run --input image=PICTURE`. Expected values: tests/data/image, made offline by
// tools/fixtures/make_image_fixtures.py from NumPy arrays (the PNGs are written from them),
// Pillow (JPEG decoding, BILINEAR resizing, convert("L")) and NumPy (the models' outputs).
#include "coreml/image.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <string>
#include <vector>

#include "coreml/error.h"
#include "coreml/limits.h"
#include "coreml/model.h"
#include "coreml/tensor.h"
#include "support/run_command.h"

namespace coreml::test {
namespace {

namespace fs = std::filesystem;

std::string image_path(const std::string& name) { return data_path("image/" + name); }

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The reference pixels, H x W x C uint8.
Tensor reference(const std::string& name) { return load_npy(image_path(name)); }

// Largest |decoded - reference| over all pixels; -1 when the shapes differ.
int max_difference(const Image& image, const Tensor& expected) {
  const std::vector<int64_t> shape = {image.height, image.width, image.channels};
  if (expected.shape() != shape) return -1;
  const auto values = expected.to_vector<uint8_t>();
  int worst = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    worst = std::max(worst, std::abs(int{image.pixels[i]} - int{values[i]}));
  }
  return worst;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

FeatureDescription image_feature(const std::string& color_space, int64_t width, int64_t height) {
  FeatureDescription f;
  f.name = "image";
  f.kind = FeatureKind::kImage;
  f.color_space = color_space;
  f.width = width;
  f.height = height;
  return f;
}

// ---- decoding --------------------------------------------------------------------------------

class PngDecoding : public testing::TestWithParam<const char*> {};

// Every PNG was written from the reference array itself: the decoder must reproduce it exactly
// (alpha dropped, 16-bit scaled by round(v * 255 / 65535), palettes and 1-bit expanded, Adam7).
TEST_P(PngDecoding, MatchesTheArrayItWasWrittenFrom) {
  const std::string name = GetParam();
  const Image image = read_image(image_path(name));
  EXPECT_EQ(max_difference(image, reference(name + ".npy")), 0) << name;
}

INSTANTIATE_TEST_SUITE_P(Image, PngDecoding,
                         testing::Values("photo.png", "rgba.png", "gray.png", "gray_alpha.png",
                                         "gray1.png", "rgb16.png", "palette.png",
                                         "interlaced.png"));

class JpegDecoding : public testing::TestWithParam<const char*> {};

// The reference is Pillow's decoding. Both use libjpeg-turbo's default (islow) IDCT and fancy
// upsampling, but perhaps not the same version or SIMD path, whose integer rounding may differ:
// at most 1 apart.
TEST_P(JpegDecoding, WithinOneOfPillow) {
  const std::string name = GetParam();
  const Image image = read_image(image_path(name));
  const int difference = max_difference(image, reference(name + ".npy"));
  EXPECT_GE(difference, 0) << name << ": shape differs";
  EXPECT_LE(difference, 1) << name;
}

INSTANTIATE_TEST_SUITE_P(Image, JpegDecoding,
                         testing::Values("photo.jpg", "gray.jpg", "progressive.jpg"));

TEST(Image, FormatIsRecognizedByContent) {
  const auto png = file_bytes(image_path("photo.png"));
  const auto jpeg = file_bytes(image_path("photo.jpg"));
  EXPECT_STREQ(image_format_of(png.data(), png.size()), "png");
  EXPECT_STREQ(image_format_of(jpeg.data(), jpeg.size()), "jpeg");
  EXPECT_STREQ(image_format_of(png.data(), 4), "");
  const std::string text = "not a picture";
  const std::string message = error_of([&] {
    decode_image(reinterpret_cast<const uint8_t*>(text.data()), text.size(), "note.txt");
  });
  EXPECT_NE(message.find("note.txt: not a PNG or JPEG"), std::string::npos) << message;
  // A PNG named .jpg is still a PNG.
  const fs::path renamed =
      fs::temp_directory_path() / ("coreml_image_test_png_" + std::to_string(::getpid()) + ".jpg");
  fs::copy_file(image_path("photo.png"), renamed, fs::copy_options::overwrite_existing);
  EXPECT_EQ(max_difference(read_image(renamed.string()), reference("photo.png.npy")), 0);
  fs::remove(renamed);
}

TEST(Image, CmykJpegIsRefusedClearly) {
  const std::string path = image_path("cmyk.jpg");
  const std::string message = error_of([&] { read_image(path); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("CMYK"), std::string::npos) << message;
}

// Every prefix of a file (and every single flipped byte of a PNG's header and data) is an
// error naming the source or a picture of the right size: never a crash or made-up pixels.
TEST(Image, TruncatedFilesAreErrors) {
  for (const char* name : {"photo.png", "interlaced.png", "photo.jpg", "progressive.jpg"}) {
    const auto bytes = file_bytes(image_path(name));
    for (size_t size = 0; size < bytes.size(); ++size) {
      const std::string message = error_of([&] { decode_image(bytes.data(), size, name); });
      ASSERT_EQ(message.rfind(name, 0), 0u) << name << " cut at " << size << ": " << message;
    }
  }
}

TEST(Image, CorruptPngIsAnError) {
  auto bytes = file_bytes(image_path("photo.png"));
  bytes[bytes.size() / 2] ^= 0x55;  // inside IDAT: the chunk's CRC no longer matches
  const std::string message = error_of([&] { decode_image(bytes.data(), bytes.size(), "x.png"); });
  EXPECT_EQ(message.rfind("x.png: PNG: ", 0), 0u) << message;
}

TEST(Image, CorruptJpegIsAnError) {
  auto bytes = file_bytes(image_path("photo.jpg"));
  // Overwrite the end of the entropy-coded data with a marker libjpeg cannot take there.
  for (size_t i = bytes.size() - 40; i < bytes.size() - 2; ++i) bytes[i] = 0xff;
  const std::string message = error_of([&] { decode_image(bytes.data(), bytes.size(), "x.jpg"); });
  EXPECT_EQ(message.rfind("x.jpg: JPEG: ", 0), 0u) << message;
}

TEST(Image, PixelLimitIsEnforcedBeforeDecoding) {
  const ResourceLimits saved = resource_limits();
  ResourceLimits small = saved;
  small.max_image_pixels = 100;  // photo.png is 12 x 9 = 108 pixels
  set_resource_limits(small);
  const std::string png = error_of([] { read_image(image_path("photo.png")); });
  const std::string jpeg = error_of([] { read_image(image_path("photo.jpg")); });
  const std::string resize =
      error_of([] { resize_image(read_image(image_path("gray.png")), 20, 20); });
  set_resource_limits(saved);
  EXPECT_NE(png.find("12x9 pixels is more than the 100 allowed"), std::string::npos) << png;
  EXPECT_NE(jpeg.find("32x24 pixels is more than the 100 allowed"), std::string::npos) << jpeg;
  EXPECT_NE(resize.find("COREML_MAX_IMAGE_PIXELS"), std::string::npos) << resize;
}

// ---- resizing ----------------------------------------------------------------------------------

struct ResizeCase {
  ImageResize mode;
  const char* mode_name;
  int64_t width, height;
};

void PrintTo(const ResizeCase& c, std::ostream* os) {
  *os << c.mode_name << " " << c.width << "x" << c.height;
}

class Resizing : public testing::TestWithParam<ResizeCase> {};

// The references are Pillow's Image.BILINEAR (the same widened triangle filter, pixel centres
// at i + 0.5, box = the source region); Pillow rounds to 8 bits between its horizontal and
// vertical passes and uses fixed-point weights, we round once: at most 1 apart.
TEST_P(Resizing, WithinOneOfPillowBilinear) {
  const ResizeCase c = GetParam();
  const Image photo = read_image(image_path("photo.png"));
  FeatureDescription feature = image_feature("RGB", c.width, c.height);
  const Tensor tensor = image_to_tensor(photo, feature, c.mode);
  ASSERT_EQ(tensor.shape(), (std::vector<int64_t>{1, 3, c.height, c.width}));
  Image resized{c.width, c.height, 3, {}};
  const auto planar = tensor.to_vector<float>();
  const int64_t plane = c.width * c.height;
  for (int64_t i = 0; i < plane; ++i) {
    for (int64_t ch = 0; ch < 3; ++ch) {
      resized.pixels.push_back(static_cast<uint8_t>(planar[static_cast<size_t>(ch * plane + i)]));
    }
  }
  const std::string name = std::string("resize_") + c.mode_name + "_" + std::to_string(c.width) +
                           "x" + std::to_string(c.height) + ".npy";
  const int difference = max_difference(resized, reference(name));
  EXPECT_GE(difference, 0) << name;
  EXPECT_LE(difference, 1) << name;
}

INSTANTIATE_TEST_SUITE_P(Image, Resizing,
                         testing::Values(ResizeCase{ImageResize::kFill, "fill", 5, 4},
                                         ResizeCase{ImageResize::kFill, "fill", 20, 7},
                                         ResizeCase{ImageResize::kFill, "fill", 8, 8},
                                         ResizeCase{ImageResize::kCrop, "crop", 5, 4},
                                         ResizeCase{ImageResize::kCrop, "crop", 20, 7},
                                         ResizeCase{ImageResize::kCrop, "crop", 8, 8},
                                         ResizeCase{ImageResize::kFit, "fit", 5, 4},
                                         ResizeCase{ImageResize::kFit, "fit", 20, 7},
                                         ResizeCase{ImageResize::kFit, "fit", 8, 8}),
                         [](const testing::TestParamInfo<ResizeCase>& p) {
                           return std::string(p.param.mode_name) + "_" +
                                  std::to_string(p.param.width) + "x" +
                                  std::to_string(p.param.height);
                         });

TEST(Image, ResizeModesParse) {
  EXPECT_EQ(parse_image_resize("fit"), ImageResize::kFit);
  EXPECT_EQ(parse_image_resize("none"), ImageResize::kNone);
  const std::string message = error_of([] { parse_image_resize("stretch"); });
  EXPECT_NE(message.find("'stretch'"), std::string::npos) << message;
}

// ---- the tensor of an image feature ------------------------------------------------------------

TEST(Image, RgbAndBgrLayout) {
  const Image photo = read_image(image_path("photo.png"));
  const auto pixels = reference("photo.png.npy").to_vector<uint8_t>();  // H x W x 3
  const Tensor rgb = image_to_tensor(photo, image_feature("RGB", 12, 9));
  const Tensor bgr = image_to_tensor(photo, image_feature("BGR", 12, 9));
  ASSERT_EQ(rgb.shape(), (std::vector<int64_t>{1, 3, 9, 12}));
  ASSERT_EQ(rgb.dtype(), DType::kFloat32);
  const auto r = rgb.to_vector<float>(), b = bgr.to_vector<float>();
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < 9 * 12; ++i) {
      ASSERT_EQ(r[static_cast<size_t>(c * 108 + i)], pixels[static_cast<size_t>(i * 3 + c)]);
      ASSERT_EQ(b[static_cast<size_t>(c * 108 + i)], pixels[static_cast<size_t>(i * 3 + 2 - c)]);
    }
  }
}

TEST(Image, GrayscaleFromColourIsPillowsLuma) {
  const Tensor gray =
      image_to_tensor(read_image(image_path("photo.png")), image_feature("GRAYSCALE", 12, 9));
  ASSERT_EQ(gray.shape(), (std::vector<int64_t>{1, 1, 9, 12}));
  EXPECT_EQ(gray.to_vector<float>(),
            reference("gray_luma.npy").to(DType::kFloat32).to_vector<float>());
}

TEST(Image, GrayscaleFloat16AndGrayIntoRgb) {
  const Image gray = read_image(image_path("gray.png"));
  const auto expected = reference("gray.png.npy").to(DType::kFloat32).to_vector<float>();
  const Tensor half = image_to_tensor(gray, image_feature("GRAYSCALE_FLOAT16", 5, 7));
  EXPECT_EQ(half.dtype(), DType::kFloat16);
  EXPECT_EQ(half.to(DType::kFloat32).to_vector<float>(), expected);
  const Tensor rgb = image_to_tensor(gray, image_feature("RGB", 5, 7));
  const auto values = rgb.to_vector<float>();
  for (size_t c = 0; c < 3; ++c) {
    EXPECT_EQ(std::vector<float>(values.begin() + static_cast<long>(c * 35),
                                 values.begin() + static_cast<long>((c + 1) * 35)),
              expected);
  }
}

TEST(Image, SizeMismatchSaysWhatCameAndWhatIsAllowed) {
  const Image photo = read_image(image_path("photo.png"));
  FeatureDescription fixed = image_feature("RGB", 8, 6);
  std::string message =
      error_of([&] { image_to_tensor(photo, fixed, ImageResize::kNone, "p.png"); });
  EXPECT_NE(message.find("p.png: image is 12x9; input 'image' accepts 8x6"), std::string::npos)
      << message;

  FeatureDescription enumerated = image_feature("RGB", 8, 6);
  enumerated.enumerated_shapes = {{6, 8}, {4, 5}};  // (height, width) as the reader lists them
  EXPECT_TRUE(image_size_allowed(enumerated, 5, 4));
  EXPECT_FALSE(image_size_allowed(enumerated, 4, 5));
  message = error_of([&] { image_to_tensor(photo, enumerated); });
  EXPECT_NE(message.find("accepts 8x6 or 5x4"), std::string::npos) << message;

  FeatureDescription ranged = image_feature("RGB", 8, 6);
  ranged.shape_ranges = {{2, 8}, {10, -1}};  // height 2..8, width 10..
  EXPECT_TRUE(image_size_allowed(ranged, 1000, 8));
  EXPECT_FALSE(image_size_allowed(ranged, 9, 8));
  message = error_of([&] { image_to_tensor(photo, ranged); });
  EXPECT_NE(message.find("accepts width 10..inf, height 2..8"), std::string::npos) << message;
  // Resizing goes to the default size.
  EXPECT_EQ(image_to_tensor(photo, ranged, ImageResize::kFill).shape(),
            (std::vector<int64_t>{1, 3, 6, 8}));
}

// ---- models and the CLI -------------------------------------------------------------------------

// A Model checks an image tensor's size against the feature's enumerated sizes (listed as
// height, width), not against whole shapes.
TEST(Image, ModelAcceptsEveryEnumeratedSize) {
  Model model = Model::load(image_path("bgr_enumerated.mlpackage"));
  const FeatureDescription& feature = model.function().inputs.at(0);
  const Tensor small = load_image_tensor(image_path("small.png"), feature);
  const Tensor out = model.predict({{"image", small}}).at("out");
  EXPECT_EQ(out.to_vector<float>(), reference("bgr_enumerated__small.png.npy").to_vector<float>());
  const std::string message = error_of([&] {
    model.predict({{"image", Tensor::zeros({1, 3, 7, 5})}});
  });
  EXPECT_NE(message.find("12x9 or 8x6"), std::string::npos) << message;
}

struct CliCase {
  const char* model;
  const char* picture;
  const char* resize;  // "" = none
  const char* expected;
  float tolerance;
};

void PrintTo(const CliCase& c, std::ostream* os) {
  *os << c.model << " " << c.picture << " " << c.resize;
}

class CliImageRun : public testing::TestWithParam<CliCase> {};

// `coreml run --input image=PICTURE` against NumPy applying the ImageType's scale and bias to
// the reference pixels. Exact but for float rounding, except after resizing (Pillow's BILINEAR
// is within 1 of ours: 1/255 after the model's scale).
TEST_P(CliImageRun, MatchesNumPy) {
  const CliCase c = GetParam();
  // One folder per case and process: ctest runs the cases in parallel.
  const fs::path dir =
      fs::temp_directory_path() / ("coreml_image_cli_" + std::string(c.model) + "_" + c.resize +
                                   "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  std::vector<std::string> args = {"run",          image_path(std::string(c.model) + ".mlpackage"),
                                   "--input",      std::string("image=") + image_path(c.picture),
                                   "--output-dir", dir.string()};
  if (*c.resize) {
    args.push_back("--resize");
    args.push_back(c.resize);
  }
  const auto r = run_cli(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const Tensor out = load_npy((dir / "out.npy").string());
  const Tensor expected = reference(c.expected);
  ASSERT_EQ(out.shape(), expected.shape());
  EXPECT_EQ(out.dtype(), expected.dtype());
  const auto got = out.to(DType::kFloat32).to_vector<float>();
  const auto want = expected.to(DType::kFloat32).to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], c.tolerance) << i;
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Image, CliImageRun,
    testing::Values(
        CliCase{"rgb_8x6", "small.png", "", "rgb_8x6__small.png.npy", 1e-6f},
        CliCase{"rgb_8x6", "photo.png", "fill", "rgb_8x6__photo.png__fill.npy", 1.0f / 255 + 1e-6f},
        CliCase{"bgr_enumerated", "photo.png", "", "bgr_enumerated__photo.png.npy", 0.0f},
        CliCase{"gray16_range", "gray.png", "", "gray16_range__gray.png.npy", 0.0f}),
    [](const testing::TestParamInfo<CliCase>& p) {
      return std::string(p.param.model) + (*p.param.resize ? "_resized" : "");
    });

TEST(Image, CliSizeMismatchIsOneLineError) {
  const auto r = run_cli(
      {"run", image_path("rgb_8x6.mlpackage"), "--input", "image=" + image_path("photo.png")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("photo.png: image is 12x9; input 'image' accepts 8x6"), std::string::npos)
      << r.err;
}

TEST(Image, CliPictureForATensorInputIsAnError) {
  const auto r = run_cli({"run", data_path("models/elementwise.mlpackage"), "--input",
                          "x=" + image_path("photo.png")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("fits an image input only, and 'x' is a tensor input"), std::string::npos)
      << r.err;
}

TEST(Image, CliInfoListsImageSizesAsWidthByHeight) {
  const auto enumerated = run_cli({"info", image_path("bgr_enumerated.mlpackage")});
  EXPECT_NE(enumerated.out.find("image BGR 12x9  sizes: 12x9 or 8x6"), std::string::npos)
      << enumerated.out;
  const auto ranged = run_cli({"info", image_path("gray16_range.mlpackage")});
  EXPECT_NE(ranged.out.find("GRAYSCALE_FLOAT16 5x7  sizes: width 4..64, height 4..64"),
            std::string::npos)
      << ranged.out;
}

TEST(Image, CliRefusesUnknownResizeMode) {
  const auto r = run_cli({"run", image_path("rgb_8x6.mlpackage"), "--resize", "stretch"});
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace coreml::test
