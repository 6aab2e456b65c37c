// Autoregressive generation with a KV cache: the prompt is prefilled in one forward pass that
// appends its keys and values to the cache, then each step feeds one token per row and samples
// the next from the last position's logits; it stops at eos or after max_new tokens.
//
// Prompts of different lengths share one batch exactly, without padding: the model has no
// attention-mask input, so every row advances through the same positions. The prefill covers
// the shortest prompt; after it, a row still inside its prompt is fed its own next prompt token
// (teacher forcing) and the sample drawn for it is ignored; a row past its prompt is fed what it
// sampled. Every row thus sees exactly its own tokens at their true positions, as if generated
// alone. A row that has finished keeps being fed padding (its outputs are unused) until the
// whole batch is finished.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "crossover/generate/request.h"
#include "crossover/model/transformer.h"

namespace crossover {

struct ArOptions {
  int64_t max_new = 64;
  SamplingOptions sampling;
  uint64_t seed = 0;        // with the prompt's index, keys its noise (batch-independent)
  int64_t eos_id = -1;      // -1: none; an empty prompt starts from eos (a document boundary)
  bool stop_at_eos = true;  // false: always max_new tokens (benchmarks)
  bool use_cache = true;    // false: re-run the whole sequence at every step (the reference)
  bool trace = false;       // keep every step's logits
};

struct ArResult {
  std::vector<std::vector<int64_t>> tokens;  // per prompt: generated tokens, eos excluded
  std::vector<bool> stopped_at_eos;
  // Trace: for each decoding position p (from the shortest prompt's length on), the logits
  // [rows, V] (float32, CPU) that predict position p.
  std::vector<int64_t> trace_positions;
  std::vector<at::Tensor> trace_logits;
  int64_t forward_calls = 0;
  int64_t forward_tokens = 0;  // tokens fed through the model, summed over rows
};

// `flats`: the model's parameter groups on the device to run on. The model is run causally.
ArResult generate_ar(const Transformer& model, const std::vector<at::Tensor>& flats,
                     const std::vector<Prompt>& prompts, const ArOptions& options);

}  // namespace crossover
