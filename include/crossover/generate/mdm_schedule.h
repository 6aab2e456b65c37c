// The unmasking schedule of the LLaDA sampler, as pure functions (the contract the sampler and
// its tests share).
//
// N masked positions follow the prompt. They are cut into blocks of `block_length` (the last
// one shorter when it does not divide N), decoded left to right (semi-autoregressive); the
// `steps` are shared among the blocks as evenly as possible (the first steps % blocks blocks get
// one more), and a block never gets more steps than it has positions (one commit per step at
// least, so a step never idles). Within a block of n positions and s steps, step i commits
// n / s tokens, plus one for the first n % s steps: n / s tokens per step, the remainder spread
// over the first steps.
#pragma once

#include <cstdint>
#include <vector>

namespace crossover {

struct MdmBlock {
  int64_t start = 0;  // offset of the block's first position within the N generated ones
  int64_t length = 0;
  int64_t steps = 0;  // steps spent on this block (without a confidence threshold)
};

// Tokens committed at each of `steps` steps when `masked` positions are to be unmasked
// (steps clamped to [1, masked]).
std::vector<int64_t> commit_counts(int64_t masked, int64_t steps);

// Blocks for N generated positions. block_length 0 means one block of N; steps 0 means N steps
// (one token per step). Throws std::invalid_argument when steps < the number of blocks: every
// block needs a step.
std::vector<MdmBlock> plan_blocks(int64_t n, int64_t block_length, int64_t steps);

}  // namespace crossover
