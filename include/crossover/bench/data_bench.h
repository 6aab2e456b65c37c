// Sampler throughput: how many tokens per second one core turns into training batches.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace crossover {

// Draws [batch, seq_len + 1] batches from DIR/train.bin on the calling thread for `seconds`;
// returns {"tokens_per_s", "batches", "seconds", ...}.
nlohmann::json bench_sampler(const std::string& data_dir, int64_t seq_len, int64_t batch,
                             double seconds);

}  // namespace crossover
