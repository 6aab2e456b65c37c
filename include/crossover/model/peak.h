// The reference that MFU is reported against. In order:
//   hardware.peak_tflops when set;
//   on a GPU whose name is in the table of known dense bf16 peaks (H100 SXM and H200: 989
//   TFLOP/s, ...), that peak, for bf16 runs;
//   otherwise a matmul measured at start (the CPU, unknown GPUs, fp32 on a GPU).
// The log says which was used.
#pragma once

#include <ATen/core/Tensor.h>

#include <string>

#include "crossover/config/config.h"

namespace crossover {

// FLOP/s of square matmuls (n = 1024 fp32 on CPU, 8192 bf16 on CUDA): the best rate over
// windows of 4 products during about `seconds`, after a warm-up.
double measure_matmul_peak(at::Device device, at::ScalarType dtype, double seconds = 0.5);

// Dense (no sparsity) bf16 tensor-core peak in TFLOP/s of a GPU by its product name, as the
// vendors' data sheets give it; 0 for a name not in the table.
double known_bf16_peak_tflops(const std::string& device_name);
// Memory in GB (decimal) of the GPU the same names denote (the 80 GB H100 and A100); 0 when
// not in the table.
double known_memory_gb(const std::string& device_name);

struct PeakReference {
  double flops_per_s = 0;
  std::string
      source;  // "hardware.peak_tflops", "NVIDIA H100 80GB HBM3 (table, dense bf16)", "measured matmul"
};
PeakReference mfu_reference(const HardwareConfig& hw, at::Device device, at::ScalarType dtype,
                            double measure_seconds = 0.5);

}  // namespace crossover
