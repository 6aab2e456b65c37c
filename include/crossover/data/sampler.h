// RepeatSampler: the "same total tokens, fewer unique tokens, more epochs" data stream.
//
// - Unique subset: training documents in one fixed order (a keyed permutation seeded by
//   order_seed) are concatenated, each followed by eos, and the stream is cut at exactly U
//   tokens. A smaller U is therefore a prefix of a larger one: subsets are nested.
// - Sequences: the subset stream is cut into windows of L + 1 tokens with stride L (the last
//   token of one window is the first of the next, so every token is a target once). The tail
//   shorter than a window is dropped; unique_tokens() = num_sequences() * L is what is reported.
// - Epochs: epoch e visits every sequence exactly once, in the order of a permutation keyed by
//   (seed, e). Global row g of the run (step * global_batch + i) is position g mod n of epoch
//   g div n, so T / U need not be whole: the last epoch is simply partial.
// - Ranks: rank r of W gets rows [r*B/W, (r+1)*B/W) of every global batch; the union over
//   ranks is the 1-rank batch, whatever W is, so resuming on another world size is exact.
// - State: the step cursor (plus the identity of the stream, checked on restore).
// - Memory: 8 bytes per subset document (where it starts in the stream); the token store itself
//   is memory-mapped, so its pages are shared by every rank on a node.
#pragma once

#include <ATen/core/Tensor.h>

#include <nlohmann/json.hpp>
#include <cstdint>
#include <vector>

#include "crossover/config/config.h"
#include "crossover/data/token_store.h"
#include "crossover/util/random.h"

namespace crossover {

class RepeatSampler {
 public:
  struct Options {
    int64_t unique_tokens = -1;  // -1: the whole store
    int64_t total_tokens = -1;   // -1: one epoch
    int64_t seq_len = 256;
    int64_t global_batch = 16;
    uint64_t order_seed = 1234;  // document order, shared by every point of a sweep
    uint64_t seed = 0;           // epoch orders
    int rank = 0;
    int world_size = 1;
  };

  RepeatSampler(const TokenStore& store, int32_t eos_id, const Options& options);

  int64_t num_sequences() const { return num_sequences_; }  // per epoch
  int64_t unique_tokens() const { return num_sequences_ * options_.seq_len; }
  int64_t subset_documents() const { return static_cast<int64_t>(stream_starts_.size()); }
  int64_t tokens_per_step() const { return options_.global_batch * options_.seq_len; }
  int64_t total_steps() const { return total_steps_; }
  int64_t rows_per_rank() const { return options_.global_batch / options_.world_size; }
  const Options& options() const { return options_; }

  // Cursor: the next step to be returned.
  int64_t step() const { return step_; }
  int64_t tokens_seen() const { return step_ * tokens_per_step(); }
  // Epochs completed so far, fractional.
  double epoch() const;

  // This rank's rows of the next global batch, [rows_per_rank, seq_len + 1] int64; advances.
  at::Tensor next();
  // Advances past the next step, whose rows were read elsewhere (fill, BatchPrefetcher).
  void advance() { ++step_; }
  // Global index (step * global_batch + i) of this rank's first row at `step`.
  int64_t first_global_row(int64_t step) const;
  // Rows [row, row + count) of the global batch at `step` into out ([count, seq_len + 1]).
  void fill(int64_t step, int64_t row, int64_t count, int64_t* out) const;
  // The subset sequence that global row `g` reads.
  int64_t sequence_of(int64_t global_row) const;
  // Tokens [seq * L, seq * L + L + 1) of the subset stream into out.
  void read_sequence(int64_t seq, int64_t* out) const;

  nlohmann::json state() const;
  // Continues from a saved state; throws when it describes a different stream.
  void restore(const nlohmann::json& state);

 private:
  void read_stream(int64_t begin, int64_t count, int64_t* out) const;

  const TokenStore& store_;
  int32_t eos_;
  Options options_;
  // Subset document k is store document order_(k), computed when needed (a keyed bijection):
  // the only per-document memory is stream_starts_, 8 bytes a subset document.
  IndexPermutation order_;
  std::vector<int64_t> stream_starts_;  // stream position where each subset document starts
  int64_t stream_len_ = 0;              // tokens in the (truncated) subset stream
  int64_t num_sequences_ = 0;
  int64_t total_steps_ = 0;
  int64_t step_ = 0;
};

// The validation set: windows of seq_len tokens over the validation stream (validation
// documents in file order, eos-separated). Window j starts at token j (seq_len - 1), so
// consecutive windows share one token: the last of window j is the first of window j + 1, and
// the seq_len - 1 tokens each window scores (all but its first, objective/scoring.h) cover every
// token of the stream after the first exactly once over all windows.
//
// `count` windows are taken, spread over the whole split: all of them when the split has no
// more than `count` (or count == 0), else a systematic sample with a fixed seeded offset,
// window floor((i + u) A / count) of the A available, i = 0..count-1. The sample depends only
// on the store, seq_len and count, so every run and both objectives score the same windows.
struct ValidationSet {
  at::Tensor windows;          // [n, seq_len] int64
  std::vector<int64_t> index;  // window number of each row among the `available` ones
  int64_t available = 0;       // windows the split holds
  int64_t start(int64_t row, int64_t seq_len) const { return index[row] * (seq_len - 1); }
};
ValidationSet validation_set(const TokenStore& store, int32_t eos_id, int64_t seq_len,
                             int64_t count);
// validation_set(...).windows.
at::Tensor validation_sequences(const TokenStore& store, int32_t eos_id, int64_t seq_len,
                                int64_t count);

// A run's sampler options: data.* and training.global_batch / training.seed, on `rank` of
// `world_size`.
RepeatSampler::Options sampler_options(const RunConfig& config, int rank = 0, int world_size = 1);

}  // namespace crossover
