#include "crossover/bench/data_bench.h"

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "crossover/data/data_dir.h"
#include "crossover/data/sampler.h"
#include "crossover/data/token_store.h"
#include "crossover/util/progress.h"

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
  return {{"tokens_per_s", tokens / elapsed},
          {"batches", batches},
          {"seconds", elapsed},
          {"seq_len", seq_len},
          {"batch", batch},
          {"unique_tokens", sampler.unique_tokens()},
          {"token_bytes", store.token_bytes()},
          {"threads", 1}};
}

namespace {

// RssAnon of this process in bytes: its private memory, not the mapped files.
int64_t anonymous_resident_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("RssAnon:", 0) == 0) return std::stoll(line.substr(8)) * 1024;  // kB
  return -1;
}

}  // namespace

nlohmann::json bench_sampler_memory(const std::string& dir, int64_t docs) {
  if (docs <= 0) throw std::invalid_argument("bench sampler: --docs must be positive");
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/synthetic-" + std::to_string(docs) + ".bin";
  constexpr int64_t kVocab = 4096;
  double write_s = 0;
  if (!std::filesystem::exists(path)) {
    const auto t0 = std::chrono::steady_clock::now();
    TokenStoreWriter writer(path, kVocab);
    std::mt19937_64 rng(1);
    std::vector<int32_t> doc(8);
    for (int64_t d = 0; d < docs; ++d) {
      const uint64_t bits = rng();
      const size_t len = 1 + (bits & 7);
      for (size_t i = 0; i < len; ++i)
        doc[i] = static_cast<int32_t>(1 + ((bits >> (3 + 4 * i)) % (kVocab - 1)));
      writer.add_document(doc.data(), len);
    }
    writer.finish();
    write_s = seconds_since(t0);
  }
  const auto store = TokenStore::open(path);
  RepeatSampler::Options o;
  o.seq_len = 256;
  o.global_batch = 8;
  const int64_t before = anonymous_resident_bytes();
  const auto t0 = std::chrono::steady_clock::now();
  RepeatSampler sampler(store, 0, o);
  const double construct_s = seconds_since(t0);
  const int64_t added = anonymous_resident_bytes() - before;
  const auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < 100; ++i) sampler.next();
  const double next_s = seconds_since(t1) / 100;
  return {{"docs", docs},
          {"subset_documents", sampler.subset_documents()},
          {"unique_tokens", sampler.unique_tokens()},
          {"construct_s", construct_s},
          {"sampler_bytes", added},
          {"bytes_per_doc", static_cast<double>(added) / docs},
          {"next_s", next_s},
          {"store_write_s", write_s},
          {"store_bytes", static_cast<int64_t>(std::filesystem::file_size(path))}};
}

}  // namespace crossover
