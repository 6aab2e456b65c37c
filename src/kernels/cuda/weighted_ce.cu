// CUDA implementation of kernels/weighted_ce.h, after llm.c's fused classifier: one thread block
// per row, two passes over the row's logits and no other [rows, V] buffer.
//   pass 1: an online softmax: each thread keeps a running max m and a running sum s of
//           exp(x - m) over its columns (< num_valid); the block then reduces the max and the
//           rescaled sums.
//   pass 2: dlogit = w * grad_scale * (exp(x - max) / sum - [c == y]), written over the logits
//           (0 in columns num_valid..V-1; columns V..ld-1 are not touched).
// Accumulation is fp32 for both storage types. Rows are visited last to first, as llm.c does,
// because the matmul that produced the logits wrote the last rows last: they are the ones most
// likely still in L2. Rows of 16-byte aligned storage are read and written in 16-byte packs.
//
// The target logit is read by thread 0 before the first barrier, and no thread writes before the
// last barrier of the reductions, so the in-place update cannot race with that read (the race
// llm.c once had). A target outside [0, num_valid) breaks the header's contract; instead of
// reading out of bounds the row then gets a NaN loss and no one-hot term, which is loud.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "crossover/kernels/weighted_ce.h"
#include "launch_check.cuh"

namespace crossover::kernels {

namespace {

constexpr int kMaxThreads = 512;

// Storage types: fp32, or bf16 kept as its raw 16 bits (the header's uint16_t).
__device__ __forceinline__ float to_float(float v) { return v; }
__device__ __forceinline__ float to_float(uint16_t v) {
  return __bfloat162float(__ushort_as_bfloat16(v));
}
template <typename S>
__device__ __forceinline__ S from_float(float v);
template <>
__device__ __forceinline__ float from_float<float>(float v) {
  return v;
}
template <>
__device__ __forceinline__ uint16_t from_float<uint16_t>(float v) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(v));  // round to nearest even, as c10
}

// VEC consecutive elements moved as one access: 16 bytes when VEC = 16 / sizeof(S), else one
// element. `streaming` marks the last use of the data (evict first: __ldcs / __stcs).
template <typename S, int VEC>
struct Pack {
  static_assert(VEC * sizeof(S) == 16 || VEC == 1, "a pack is 16 bytes or one element");
  union {
    int4 raw;
    S v[VEC];
  };
  __device__ __forceinline__ void load(const S* p, bool streaming) {
    if constexpr (VEC == 1) {
      v[0] = streaming ? __ldcs(p) : *p;
    } else {
      const int4* q = reinterpret_cast<const int4*>(p);
      raw = streaming ? __ldcs(q) : *q;
    }
  }
  __device__ __forceinline__ void store(S* p) const {
    if constexpr (VEC == 1) {
      __stcs(p, v[0]);
    } else {
      __stcs(reinterpret_cast<int4*>(p), raw);
    }
  }
};

// Online-softmax step: fold x into (m, s), s = sum of exp(x_i - m). One exp per element.
__device__ __forceinline__ void online_add(float x, float& m, float& s) {
  if (x > m) {
    s = s * expf(m - x) + 1.0f;
    m = x;
  } else {
    s += expf(x - m);
  }
}

// Block-wide reductions; every thread gets the result. blockDim.x is a multiple of 32. Each
// reduction has its own shared array, so the second cannot overwrite what a slow warp of the
// first is still reading.
__device__ __forceinline__ float warp_max(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}
// One block reduction per warp reduction: each instantiation has its own shared array.
template <float (*WarpReduce)(float)>
__device__ float block_reduce(float v, float identity) {
  __shared__ float partial[kMaxThreads / 32];
  v = WarpReduce(v);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  return WarpReduce(lane < static_cast<int>(blockDim.x >> 5) ? partial[lane] : identity);
}
__device__ float block_max(float v) { return block_reduce<warp_max>(v, -FLT_MAX); }
__device__ float block_sum(float v) { return block_reduce<warp_sum>(v, 0.0f); }

template <typename S, int VEC>
__global__ void __launch_bounds__(kMaxThreads)
    weighted_ce_kernel(S* logits, int64_t V, int64_t ld, int64_t num_valid, const int64_t* targets,
                       const float* weights, float grad_scale, float* loss) {
  const int64_t r = static_cast<int64_t>(gridDim.x) - 1 - blockIdx.x;
  S* x = logits + r * ld;
  const float w = weights[r];
  const int64_t full_packs = V / VEC;  // packs entirely inside [0, V)

  if (w == 0.0f) {  // the same for the whole block, so the early return leaves no one at a barrier
    Pack<S, VEC> zero;
    zero.raw = make_int4(0, 0, 0, 0);  // +0 is all zero bits in fp32 and bf16
    for (int64_t i = threadIdx.x; i < full_packs; i += blockDim.x) zero.store(x + i * VEC);
    for (int64_t c = full_packs * VEC + threadIdx.x; c < V; c += blockDim.x) {
      __stcs(x + c, from_float<S>(0.0f));
    }
    if (threadIdx.x == 0) loss[r] = 0.0f;
    return;
  }

  const int64_t y = targets[r];
  const bool target_ok = y >= 0 && y < num_valid;
  float target_logit = 0.0f;
  if (threadIdx.x == 0) target_logit = target_ok ? to_float(x[y]) : __int_as_float(0x7fc00000);

  // Pass 1: the online softmax over columns [0, num_valid). -FLT_MAX rather than -inf as the
  // start, so a -inf logit adds exp(-inf) = 0 instead of exp(-inf + inf) = NaN.
  float m = -FLT_MAX, s = 0.0f;
  const int64_t valid_packs = num_valid / VEC;
  for (int64_t i = threadIdx.x; i < valid_packs; i += blockDim.x) {
    Pack<S, VEC> p;
    p.load(x + i * VEC, false);  // keep it cached for pass 2
#pragma unroll
    for (int k = 0; k < VEC; ++k) online_add(to_float(p.v[k]), m, s);
  }
  for (int64_t c = valid_packs * VEC + threadIdx.x; c < num_valid; c += blockDim.x) {
    online_add(to_float(x[c]), m, s);
  }
  const float row_max = block_max(m);
  const float row_sum = block_sum(s * expf(m - row_max));

  // Pass 2: the gradient, in the CPU reference's order: exp(x - max) * (w * grad_scale / sum),
  // then minus w * grad_scale at the target.
  const float wg = w * grad_scale;
  const float g = wg / row_sum;
  auto dlogit = [&](int64_t c, float xc) {
    if (c >= num_valid) return 0.0f;
    const float d = expf(xc - row_max) * g;
    return c == y ? d - wg : d;
  };
  for (int64_t i = threadIdx.x; i < full_packs; i += blockDim.x) {
    Pack<S, VEC> p;
    p.load(x + i * VEC, true);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      p.v[k] = from_float<S>(dlogit(i * VEC + k, to_float(p.v[k])));
    }
    p.store(x + i * VEC);
  }
  for (int64_t c = full_packs * VEC + threadIdx.x; c < V; c += blockDim.x) {
    __stcs(x + c, from_float<S>(dlogit(c, to_float(__ldcs(x + c)))));
  }
  if (threadIdx.x == 0) loss[r] = w * (logf(row_sum) + row_max - target_logit);
}

template <typename S>
void launch(S* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
            const int64_t* targets, const float* weights, float grad_scale, float* loss,
            void* stream, const char* what) {
  if (rows <= 0) return;
  if (rows > 0x7fffffff) throw std::invalid_argument(std::string(what) + ": more than 2^31-1 rows");
  if (V <= 0 || ld < V || num_valid <= 0 || num_valid > V) {
    throw std::invalid_argument(std::string(what) + ": need 0 < num_valid <= V <= ld");
  }
  constexpr int kVec = 16 / sizeof(S);
  // Packs need every row start 16-byte aligned: an aligned base and ld a multiple of the pack.
  const bool packed = reinterpret_cast<uintptr_t>(logits) % 16 == 0 && ld % kVec == 0;
  const int64_t work = packed ? (V + kVec - 1) / kVec : V;
  const int threads = static_cast<int>(work >= kMaxThreads ? kMaxThreads : (work + 31) / 32 * 32);
  const dim3 grid(static_cast<unsigned>(rows));
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  check_before_launch(what);
  if (packed) {
    weighted_ce_kernel<S, kVec>
        <<<grid, threads, 0, s>>>(logits, V, ld, num_valid, targets, weights, grad_scale, loss);
  } else {
    weighted_ce_kernel<S, 1>
        <<<grid, threads, 0, s>>>(logits, V, ld, num_valid, targets, weights, grad_scale, loss);
  }
  check_launch(what);
}

}  // namespace

void weighted_ce_cuda_f32(float* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
                          const int64_t* targets, const float* weights, float grad_scale,
                          float* loss, void* stream) {
  launch(logits, rows, V, ld, num_valid, targets, weights, grad_scale, loss, stream,
         "weighted_ce_cuda_f32");
}

void weighted_ce_cuda_bf16(uint16_t* logits, int64_t rows, int64_t V, int64_t ld, int64_t num_valid,
                           const int64_t* targets, const float* weights, float grad_scale,
                           float* loss, void* stream) {
  launch(logits, rows, V, ld, num_valid, targets, weights, grad_scale, loss, stream,
         "weighted_ce_cuda_bf16");
}

}  // namespace crossover::kernels
