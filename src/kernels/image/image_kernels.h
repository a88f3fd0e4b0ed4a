// The image family: resizing to a target size, cropping, crop-and-resize, and resampling at
// given or affinely transformed coordinates. register.cpp calls each part.
#pragma once

#include "runtime/kernel_registry.h"

namespace coreml::kernels {
void register_resize_kernels(
    runtime::KernelRegistry& r);  // resize_bilinear, resize_nearest_neighbor, resize, crop
void register_crop_resize_kernels(
    runtime::KernelRegistry& r);  // crop_resize (iOS15/16 roi, iOS17 boxes)
void register_resample_kernels(runtime::KernelRegistry& r);  // resample, affine
}  // namespace coreml::kernels
