// `crossover bench generate`: serving figures of a trained AR run and a trained MDM run on the
// machine at hand — per-sequence latency and tokens/s of AR decoding with a KV cache against
// LLaDA-style diffusion decoding at several steps / block / threshold / cache settings, for
// several batch sizes. It measures the serving argument of Ni et al. 2025 (docs/science.md): a
// diffusion step costs about as much for one token as for many at small batch, so committing
// several tokens per step can beat AR's one token per step; at large batch the cost grows with
// the tokens processed, where a cache matters.
//
// Prompts are the first prompt_len tokens of the validation documents of each run's data
// (documents shorter than that are skipped; rows cycle through the rest), so rows differ and
// the prefix cache's disagreement with no cache is measured on real text. Generation length
// is capped by the runs' maximum sequence length minus the prompt. AR never stops at eos here,
// so both models produce exactly `len` tokens per sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/generate/mdm.h"
#include "crossover/generate/request.h"

namespace crossover {

// One MDM configuration of the benchmark.
struct BenchMdmSetting {
  int64_t steps = 0;          // 0: one token per step
  int64_t block_length = 32;  // 0: one block
  double threshold = 0;
  MdmCache cache = MdmCache::None;
  Remasking remasking = Remasking::LowConfidence;
  std::string label() const;  // e.g. "steps=56 block=32 cache=prefix"
};

// "steps=56,block=32,threshold=0.9,cache=prefix,remasking=random" (any subset of the keys).
BenchMdmSetting parse_bench_setting(const std::string& spec);
// The default grid for `len` generated tokens: one token per step, len/4 and len/16 steps
// (blocks of 32, cache none and prefix), and threshold 0.9 with and without the cache.
std::vector<BenchMdmSetting> default_bench_settings(int64_t len);

struct GenerateBenchOptions {
  std::string ar_run, mdm_run;
  int64_t len = 256;
  int64_t prompt_len = 32;
  std::vector<int64_t> batches = {1, 8, 32};
  std::vector<BenchMdmSetting> mdm;  // empty: default_bench_settings
  SamplingOptions sampling{0.0, 0, 1.0};
  uint64_t seed = 0;
  int64_t step = -1;         // checkpoint step of both runs (-1: latest)
  std::string device;        // "": each run's hardware.device
  bool ar_no_cache = false;  // also time AR re-running the whole prefix every token
  int repeat = 1;            // timings per entry; the fastest is reported
};

// Runs the grid; `on_row` sees each result as it is measured (for live output). Returns
// {"meta": {...}, "results": [...]}. Each result: model, setting, batch, len, seconds
// (= per-sequence latency: a batch finishes together), tokens_per_s, forward_calls,
// tokens_per_forward and, for cache=prefix entries, differs_tokens / differs_sequences: the
// fraction of generated tokens and of sequences that differ from the same setting without it.
nlohmann::json bench_generate(const GenerateBenchOptions& options,
                              const std::function<void(const nlohmann::json&)>& on_row = {});

// The results as an aligned text table (one line per result, a header line first).
std::string format_bench_row(const nlohmann::json& row);
std::string bench_table_header();

}  // namespace crossover
