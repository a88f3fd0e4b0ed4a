// Where Highway's fp16 <-> fp32 conversions may be used. Highway 1.0.3 emulates them on x86
// targets without F16C (SSE4 and older) by truncating, and maps inf/NaN to finite values;
// the hardware conversions (F16C from AVX2 on, NEON) are exact. Evaluated per target: include
// after hwy/highway.h and use inside the per-target code.
#pragma once

#define COREML_HWY_NATIVE_F16 ((HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2) || HWY_ARCH_ARM)
