// Completions of prompts by a trained model, decoded the way its objective says
// (Objective::decoding()): left to right with a KV cache (generate/ar.h) or by LLaDA's iterative
// unmasking (generate/mdm.h). `crossover generate` and anything else that wants text from a run
// call this and never ask which objective the run has.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "crossover/generate/mdm.h"
#include "crossover/generate/request.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/objective.h"

namespace crossover {

struct CompletionRequest {
  int64_t max_new = 64;  // left to right: at most (stops at eos); unmasking: masked positions
  SamplingOptions sampling;
  uint64_t seed = 0;
  int32_t eos_id = -1;
  // Unmasking only: steps, block length, remasking, threshold, cache (generate/mdm.h); its
  // max_new, sampling and seed are the ones above.
  MdmOptions unmasking;
};

struct Completions {
  std::vector<std::vector<int64_t>> tokens;  // per prompt: the completion, eos excluded
  std::vector<std::string> notes;            // per prompt: why it ended
  int64_t forward_calls = 0;
};

Completions complete(const Transformer& model, const std::vector<at::Tensor>& flats,
                     const Objective& objective, const std::vector<Prompt>& prompts,
                     const CompletionRequest& request);

}  // namespace crossover
