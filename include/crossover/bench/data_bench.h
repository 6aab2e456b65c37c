// Sampler throughput: how many tokens per second one core turns into training batches.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace crossover {

// Draws [batch, seq_len + 1] batches from DIR/train.bin on the calling thread for `seconds`;
// returns {"tokens_per_s", "batches", "seconds", ...}.
nlohmann::json bench_sampler(const std::string& data_dir, int64_t seq_len, int64_t batch,
                             double seconds);

// The sampler's cost at scale: writes a synthetic store of `docs` documents (1 to 8 tokens each)
// to DIR/synthetic.bin (unless it is there), then builds a RepeatSampler over all of it and
// returns the construction time and the anonymous (non file-backed) resident memory it added:
// {"docs", "construct_s", "sampler_bytes", "bytes_per_doc", "store_write_s", "store_bytes", ...}.
nlohmann::json bench_sampler_memory(const std::string& dir, int64_t docs);

}  // namespace crossover
