// CUDA implementation of kernels/dropout_mask.h: one thread per group of 4 consecutive elements
// of a row, because one Philox call yields the 4 uniforms of a group (token_bits' block index),
// exactly as the CPU reference draws them. The comparison `uniform < p` is on the same floats and
// the keep-scale comes from the host, so the two agree bit for bit.
#include <cuda_runtime.h>

#include "crossover/kernels/dropout_mask.h"
#include "crossover/kernels/philox.h"
#include "launch_check.cuh"

namespace crossover::kernels {

namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads)
    dropout_scale_kernel(DropoutParams params, int64_t rows, int64_t n, int64_t groups_per_row,
                         float* out) {
  const int64_t g = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (g >= rows * groups_per_row) return;
  const int64_t r = g / groups_per_row, j = (g % groups_per_row) * 4;
  const uint64_t row = static_cast<uint64_t>(params.row0 + r);
  const Philox4 bits = token_bits(params.seed, params.step, row, static_cast<uint32_t>(j / 4),
                                  params.stream);
#pragma unroll
  for (int k = 0; k < 4; ++k)
    if (j + k < n)
      out[r * n + j + k] = uniform_from_bits(bits.v[k]) < params.p ? 0.0f : params.keep_scale;
}

}  // namespace

void dropout_scale_cuda(const DropoutParams& params, int64_t rows, int64_t n, float* out,
                        void* stream) {
  if (rows == 0 || n == 0) return;
  const int64_t groups_per_row = (n + 3) / 4, total = rows * groups_per_row;
  check_before_launch("dropout_scale_cuda");
  dropout_scale_kernel<<<static_cast<unsigned>((total + kThreads - 1) / kThreads), kThreads, 0,
                         static_cast<cudaStream_t>(stream)>>>(params, rows, n, groups_per_row, out);
  check_launch("dropout_scale_cuda");
}

}  // namespace crossover::kernels
