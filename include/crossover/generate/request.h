// What both samplers take in: a batch of prompts as token ids, the sampling knobs they share,
// and the one limit they share: a run's maximum sequence length is its data.seq_len (the RoPE
// tables end there), so a prompt plus the tokens to generate must fit in it.
#pragma once

#include <cstdint>
#include <vector>

namespace crossover {

using Prompt = std::vector<int64_t>;

// How a token is drawn from the logits at one position.
struct SamplingOptions {
  double temperature = 1.0;  // 0: greedy (argmax); otherwise Gumbel-max on logits / temperature
  int64_t top_k = 0;         // keep the k most likely tokens; 0: all
  double top_p = 1.0;        // keep the smallest set of tokens holding this much mass; 1: all
};

// Throws std::invalid_argument naming both numbers when prompt_len + max_new > max_seq_len,
// and when max_new < 1.
void check_generation_length(int64_t prompt_len, int64_t max_new, int64_t max_seq_len);

// Throws std::invalid_argument when a knob is out of range (negative temperature or top-k,
// top-p outside (0, 1]).
void check_sampling_options(const SamplingOptions& options);

}  // namespace crossover
