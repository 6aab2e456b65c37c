#include "crossover/generate/mdm_schedule.h"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace crossover {

std::vector<int64_t> commit_counts(int64_t masked, int64_t steps) {
  if (masked <= 0) return {};
  steps = std::clamp<int64_t>(steps, 1, masked);
  std::vector<int64_t> counts(steps, masked / steps);
  for (int64_t i = 0; i < masked % steps; ++i) ++counts[i];
  return counts;
}

std::vector<MdmBlock> plan_blocks(int64_t n, int64_t block_length, int64_t steps) {
  if (n < 1) throw std::invalid_argument("max-new must be at least 1");
  if (block_length < 0 || steps < 0)
    throw std::invalid_argument("steps and block-length must be >= 0");
  if (block_length == 0 || block_length > n) block_length = n;
  if (steps == 0) steps = n;
  const int64_t blocks = (n + block_length - 1) / block_length;
  if (steps < blocks)
    throw std::invalid_argument("steps " + std::to_string(steps) + " is fewer than the " +
                                std::to_string(blocks) + " blocks of max-new " + std::to_string(n) +
                                " / block-length " + std::to_string(block_length) +
                                ": every block needs a step");
  std::vector<MdmBlock> plan;
  for (int64_t b = 0; b < blocks; ++b) {
    MdmBlock blk;
    blk.start = b * block_length;
    blk.length = std::min(block_length, n - blk.start);
    blk.steps = std::min(blk.length, steps / blocks + (b < steps % blocks ? 1 : 0));
    plan.push_back(blk);
  }
  return plan;
}

}  // namespace crossover
