// Masked-diffusion generation, the LLaDA sampler: the prompt is followed by N = max_new [MASK]
// positions; each step predicts every masked position of the current block at once and commits
// some of the predictions, the rest stay masked for later steps. Blocks (mdm_schedule.h) are
// decoded left to right; positions past the current block are never committed early, but they
// are in the model's input (as [MASK]) at every step, as in LLaDA.
//
// - Prediction: x0 = the sampled token (sampling.h: greedy at temperature 0, else Gumbel-max
//   with float64 noise keyed by (seed, prompt index, the row's step, position)). [MASK] is not a
//   row of the LM head, so it can never be predicted; the sampler asserts it.
// - Which predictions are committed: `low-confidence` remasking commits the most confident ones
//   (confidence = the model's probability of x0 at temperature 1, unfiltered); `random` commits
//   random ones. Ties go to the leftmost position. Without a threshold each step commits exactly
//   the count of commit_counts(); with threshold C (Fast-dLLM parallel decoding) a step commits
//   every masked position of the block whose confidence is >= C, and at least the most
//   confident one, so a block takes a data-dependent number of steps and `steps` is unused.
// - Cache `prefix`: keys and values of the prompt and of finished blocks are cached and only
//   the active part (the current block and everything after it) is run at each step. The first
//   step of a block runs from the start of the previous block with CacheMode::Append (so the
//   finished block's keys and values are computed once, with its final tokens) and the cache is
//   then cut back to the current block's start; the other steps use CacheMode::Read. Exact for a
//   causal model; for the bidirectional MDM it is an approximation: cached keys and values were
//   computed when the later positions were still masked and are not refreshed as they fill in.
//
// Prompts of different lengths run in separate batches, one per length: with no attention-mask
// input, padding would be seen by a bidirectional model. Each prompt's randomness is keyed by its
// index in the request, so grouping does not change any result.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <vector>

#include "crossover/generate/request.h"
#include "crossover/model/transformer.h"

namespace crossover {

enum class Remasking { LowConfidence, Random };
enum class MdmCache { None, Prefix };

Remasking parse_remasking(const std::string& name);  // low-confidence | random
MdmCache parse_mdm_cache(const std::string& name);   // none | prefix
std::string to_string(Remasking r);
std::string to_string(MdmCache c);

struct MdmOptions {
  int64_t max_new = 64;
  int64_t steps = 0;         // 0: max_new (one token per step)
  int64_t block_length = 0;  // 0: max_new (one block)
  Remasking remasking = Remasking::LowConfidence;
  double threshold = 0;  // in (0, 1]: commit by confidence threshold; 0: by the schedule
  MdmCache cache = MdmCache::None;
  SamplingOptions sampling;
  uint64_t seed = 0;
  bool trace = false;  // record what every step commits
  // The attention the model runs with: bidirectional for MDM runs. (Causal makes the prefix
  // cache exact, which is how its bookkeeping is tested.)
  bool causal_attention = false;
};

// What one step committed.
struct MdmStepTrace {
  int64_t block = 0;
  std::vector<int64_t> rows;                    // prompt indices, in the order of `committed`
  std::vector<std::vector<int64_t>> committed;  // per row: offsets in [0, N) committed
};

struct MdmResult {
  std::vector<std::vector<int64_t>> tokens;     // per prompt: the N generated ids (eos included)
  std::vector<std::vector<int64_t>> sequences;  // per prompt: the prompt, then those N ids
  std::vector<MdmStepTrace> trace;
  int64_t forward_calls = 0;
  int64_t forward_tokens = 0;  // tokens fed through the model, summed over rows
};

// Throws std::invalid_argument for inconsistent options (threshold outside [0, 1], threshold
// with random remasking, fewer steps than blocks).
void check_mdm_options(const MdmOptions& options);

MdmResult generate_mdm(const Transformer& model, const std::vector<at::Tensor>& flats,
                       const std::vector<Prompt>& prompts, const MdmOptions& options);

}  // namespace crossover
