// Float loops shared by the fused CPU passes (kernels/fused_cpu, kernels/attention_cpu,
// kernels/adamw_cpu): the build's function clones and the pieces that keep a loop vectorisable.
#pragma once

#include <cstdint>
#include <cstring>

namespace crossover {

// Each loop is compiled for AVX-512, AVX2 and plain x86-64; the loader picks the best the CPU
// has, so one binary runs on every x86-64 and vectorises where it can.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CROSSOVER_CPU_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CROSSOVER_CPU_CLONES
#endif

// The helpers below are inlined into every caller, so each clone compiles them for its own
// instruction set (called out of line they would run the baseline x86-64 code).
#if defined(__GNUC__)
#define CROSSOVER_VECTOR_INLINE inline __attribute__((always_inline))
#else
#define CROSSOVER_VECTOR_INLINE inline
#endif

// sum a[i] b[i] in 16 interleaved partial sums, which the compiler turns into vector lanes (a
// single running sum is a chain it may not reorder).
CROSSOVER_VECTOR_INLINE float sum_of_products(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k] * b[i + k];
  float sum = 0;
  for (int k = 0; k < 16; ++k) sum += acc[k];
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// max of a[0, n) (-inf when empty) in 16 interleaved partial maxima.
CROSSOVER_VECTOR_INLINE float max_of(const float* a, int64_t n) {
  float peak[16];
  for (int k = 0; k < 16; ++k) peak[k] = -__builtin_inff();
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) peak[k] = a[i + k] > peak[k] ? a[i + k] : peak[k];
  float m = -__builtin_inff();
  for (int k = 0; k < 16; ++k) m = peak[k] > m ? peak[k] : m;
  for (; i < n; ++i) m = a[i] > m ? a[i] : m;
  return m;
}

// sum of a[0, n) in 16 interleaved partial sums of type Acc (float, or double where a long sum
// must not drift).
template <class Acc = float>
CROSSOVER_VECTOR_INLINE Acc sum_of(const float* a, int64_t n) {
  Acc acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int k = 0; k < 16; ++k) acc[k] += a[i + k];
  Acc sum = 0;
  for (int k = 0; k < 16; ++k) sum += acc[k];
  for (; i < n; ++i) sum += a[i];
  return sum;
}

// e^x in float: Cody-Waite reduction by ln 2 and Cephes' degree-6 polynomial (about 1 ulp),
// written without library calls so that the loops around it vectorise (with
// -fno-trapping-math, set for the files that use it in CMakeLists.txt). n = round(x / ln 2) by
// the 1.5 * 2^23 trick: adding it leaves no fraction bits, so the sum rounds to an integer.
CROSSOVER_VECTOR_INLINE float exp_approx(float x) {
  x = x > 88.3762626647949f ? 88.3762626647949f : x;  // ternaries: vector min and max
  x = x < -87.3365447504f ? -87.3365447504f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

}  // namespace crossover
