#include "crossover/generate/request.h"

#include <stdexcept>
#include <string>

namespace crossover {

void check_generation_length(int64_t prompt_len, int64_t max_new, int64_t max_seq_len) {
  if (max_new < 1)
    throw std::invalid_argument("max-new must be at least 1, got " + std::to_string(max_new));
  if (prompt_len + max_new > max_seq_len)
    throw std::invalid_argument("a prompt of " + std::to_string(prompt_len) +
                                " tokens plus max-new " + std::to_string(max_new) + " is " +
                                std::to_string(prompt_len + max_new) +
                                " tokens, beyond the run's maximum sequence length " +
                                std::to_string(max_seq_len) + " (its data.seq_len)");
}

void check_sampling_options(const SamplingOptions& o) {
  if (!(o.temperature >= 0))
    throw std::invalid_argument("temperature must be >= 0, got " + std::to_string(o.temperature));
  if (o.top_k < 0)
    throw std::invalid_argument("top-k must be >= 0, got " + std::to_string(o.top_k));
  if (!(o.top_p > 0 && o.top_p <= 1))
    throw std::invalid_argument("top-p must be in (0, 1], got " + std::to_string(o.top_p));
}

}  // namespace crossover
