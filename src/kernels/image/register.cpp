// Registration of the image kernel family.
#include "kernels/image/image_kernels.h"

namespace coreml::kernels {

void register_image_kernels(runtime::KernelRegistry& r) {
  register_resize_kernels(r);
  register_crop_resize_kernels(r);
  register_resample_kernels(r);
}

}  // namespace coreml::kernels
