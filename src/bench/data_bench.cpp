#include "crossover/bench/data_bench.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>

#include "crossover/data/data_dir.h"
#include "crossover/data/sampler.h"

namespace crossover {

nlohmann::json bench_sampler(const std::string& data_dir, int64_t seq_len, int64_t batch,
                             double seconds) {
  const DataMeta meta = DataMeta::read(data_dir);
  const auto store = TokenStore::open(DataDir{data_dir}.train());
  RepeatSampler::Options o;
  o.seq_len = seq_len;
  o.global_batch = batch;
  o.total_tokens = INT64_MAX / 2;  // never runs out
  RepeatSampler sampler(store, meta.eos_id, o);
  at::Tensor buffer = at::empty({batch, seq_len + 1}, at::kLong);
  const auto start = std::chrono::steady_clock::now();
  int64_t batches = 0;
  double elapsed = 0;
  do {
    // Same work as next() minus the allocation, which training amortises the same way.
    sampler.fill(batches, 0, batch, buffer.data_ptr<int64_t>());
    ++batches;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  const double tokens = static_cast<double>(batches * batch * seq_len);
  return {{"tokens_per_s", tokens / elapsed}, {"batches", batches}, {"seconds", elapsed},
          {"seq_len", seq_len}, {"batch", batch}, {"unique_tokens", sampler.unique_tokens()},
          {"token_bytes", store.token_bytes()}, {"threads", 1}};
}

}  // namespace crossover
