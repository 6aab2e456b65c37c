// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011): a
// counter-based generator. Output is a pure function of (key, counter), so the CPU reference
// and the CUDA kernels draw identical numbers for the same token without sharing any state —
// the reason diffusion masks match bit for bit across devices, world sizes and resumes.
// Same algorithm and constants as Random123 and ATen's at::Philox4_32.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define CROSSOVER_HD __host__ __device__ __forceinline__
#else
#define CROSSOVER_HD inline
#endif

namespace crossover::kernels {

struct Philox4 {
  uint32_t v[4];
};

CROSSOVER_HD uint32_t philox_mulhilo(uint32_t a, uint32_t b, uint32_t* hi) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(p >> 32);
  return static_cast<uint32_t>(p);
}

// Ten rounds of Philox4x32 on `counter` under the 64-bit `key`.
CROSSOVER_HD Philox4 philox4x32_10(Philox4 counter, uint64_t key) {
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, hi1;
    const uint32_t lo0 = philox_mulhilo(0xD2511F53u, counter.v[0], &hi0);
    const uint32_t lo1 = philox_mulhilo(0xCD9E8D57u, counter.v[2], &hi1);
    counter = Philox4{{hi1 ^ counter.v[1] ^ k0, lo1, hi0 ^ counter.v[3] ^ k1, lo0}};
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return counter;
}

// A uniform float in [0, 1) from the top 24 bits: exactly representable, so comparisons
// against a float threshold give the same answer on every device.
CROSSOVER_HD float uniform_from_bits(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// Random-number streams of one training step, so independent decisions never share numbers.
enum RngStream : uint32_t {
  kStreamTokenMask = 0,   // per-token mask decisions (mdm and the ar input-mask ablation)
  kStreamForcedMask = 1,  // the position forced masked when a row drew none
};

// Four uniforms for tokens [4*block, 4*block + 4) of global row `row` at `step`.
// Counter layout: (token block, row, step, stream); key: the training seed.
CROSSOVER_HD Philox4 token_bits(uint64_t seed, uint64_t step, uint64_t row, uint32_t block,
                                uint32_t stream) {
  return philox4x32_10(Philox4{{block, static_cast<uint32_t>(row), static_cast<uint32_t>(step),
                                stream ^ (static_cast<uint32_t>(row >> 32) << 8) ^
                                    (static_cast<uint32_t>(step >> 32) << 20)}},
                       seed);
}

}  // namespace crossover::kernels
