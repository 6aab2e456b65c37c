// The matmul peak of this machine, measured: MFU is reported against it unless the config
// gives hardware.peak_tflops (e.g. 989 for an H100's dense bf16).
#pragma once

#include <ATen/core/Tensor.h>

namespace crossover {

// FLOP/s of square matmuls (n = 1024 fp32 on CPU, 8192 bf16 on CUDA): the best rate over
// windows of 4 products during about `seconds`, after a warm-up.
double measure_matmul_peak(at::Device device, at::ScalarType dtype, double seconds = 0.5);

}  // namespace crossover
