// Dropout's keep-scales drawn from Philox (kernels/philox.h): for each of `rows` rows and `n`
// elements, 0 where the element is dropped (uniform < p) and 1 / (1 - p) where it is kept. The
// numbers are keyed by (seed, step, global row, element / 4, stream), so the CPU reference and
// the CUDA kernel draw the same mask bit for bit, and a block recomputed in backward or a
// resumed run draws it again.
#pragma once

#include <cstdint>

namespace crossover::kernels {

struct DropoutParams {
  uint64_t seed = 0;  // the training seed
  uint64_t step = 0;
  int64_t row0 = 0;      // global index of the first row
  uint32_t stream = 0;   // one per (layer, site): model/dropout.cpp assigns them
  float p = 0;           // drop probability, in [0, 1): dropped where uniform < p
  float keep_scale = 1;  // 1 / (1 - p), rounded once by the caller from p in double
};

// out: [rows, n] float.
void dropout_scale_cpu(const DropoutParams& params, int64_t rows, int64_t n, float* out);

// The same on a CUDA device pointer, enqueued on `stream` (a cudaStream_t). Only in builds with
// CROSSOVER_CUDA.
void dropout_scale_cuda(const DropoutParams& params, int64_t rows, int64_t n, float* out,
                        void* stream);

}  // namespace crossover::kernels
