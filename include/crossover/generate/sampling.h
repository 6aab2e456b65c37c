// Drawing tokens from logits, shared by the AR and MDM samplers: temperature, top-k and top-p
// filtering, and Gumbel-max sampling with the noise in float64.
//
// Why Gumbel-max in float64: argmax(logits / T + g), g = -log(-log u), samples softmax(logits / T)
// exactly, and LLaDA found that low-precision Gumbel noise visibly degrades diffusion samples
// (the noise's tails decide which low-probability tokens appear). The uniforms come from
// Philox4x32-10 keyed by (seed, stream, row) with counter (vocab pair, position, draw), so a
// row's samples depend only on its own key: the same whatever it is batched with, on any
// device and thread count.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "crossover/generate/request.h"

namespace crossover {

// Independent random streams of generation, so no two decisions share numbers.
enum class NoiseStream : uint32_t {
  ArToken = 1,    // AR: the token at a position
  MdmToken = 2,   // MDM: the prediction x0 at a position at one step
  MdmRemask = 3,  // MDM random remasking: the score that picks which predictions to commit
};

// Identifies one draw: `row` is the prompt's index in the request (not its slot in a batch);
// `draw` separates repeated draws at the same position (the MDM step; 0 for AR).
struct NoiseKey {
  uint64_t seed = 0;
  NoiseStream stream = NoiseStream::ArToken;
  uint64_t row = 0;
  uint64_t draw = 0;
};

// Uniforms in (0, 1) with 53 random bits, float64 on the CPU, [positions.size(), width]:
// element (i, v) is a pure function of (keys[i], positions[i], v). One key per row, so rows of
// different prompts are drawn in one call.
at::Tensor philox_uniform(const std::vector<NoiseKey>& keys, const std::vector<int64_t>& positions,
                          int64_t width);
// Standard Gumbel noise -log(-log u) of those uniforms (float64).
at::Tensor gumbel_noise(const std::vector<NoiseKey>& keys, const std::vector<int64_t>& positions,
                        int64_t width);

// logits [.., V] with every token outside the k largest set to -inf (ties with the k-th value
// are kept); k = 0 or k >= V keeps all.
at::Tensor filter_top_k(const at::Tensor& logits, int64_t k);
// logits [.., V] with every token outside the nucleus set to -inf: tokens in decreasing
// probability are kept while the mass before them is < p, so the most likely token always stays
// and the kept set is the smallest one holding at least p; p = 1 keeps all.
at::Tensor filter_top_p(const at::Tensor& logits, double p);

// One token per row of `logits` [n, V] (any dtype and device); row i is drawn with keys[i] at
// positions[i] (its position in the sequence). Temperature 0: argmax (no noise). Otherwise
// logits / T in float64, then top-k, then top-p, then Gumbel-max. Returns int64 [n] on the CPU.
at::Tensor sample_tokens(const at::Tensor& logits, const SamplingOptions& options,
                         const std::vector<NoiseKey>& keys, const std::vector<int64_t>& positions);

}  // namespace crossover
