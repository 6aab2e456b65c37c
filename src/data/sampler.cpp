#include "crossover/data/sampler.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace crossover {

namespace {
// Keys of the two permutations; distinct tags keep them independent for equal seeds.
constexpr uint64_t kDocOrderTag = 0x646f632d6f726465ull;    // "doc-orde"
constexpr uint64_t kEpochOrderTag = 0x65706f6368732d2dull;  // "epochs--"
// Key of the validation sample's offset (validation_set).
constexpr uint64_t kValidationSampleSeed = 0x76616c2d73616d70ull;  // "val-samp"
}  // namespace

RepeatSampler::RepeatSampler(const TokenStore& store, int32_t eos_id, const Options& options)
    : store_(store), eos_(eos_id), options_(options),
      order_(store.num_docs(), hash_combine(options.order_seed, kDocOrderTag)) {
  const auto& o = options_;
  if (o.seq_len <= 0 || o.global_batch <= 0)
    throw std::invalid_argument("sampler: seq_len and global_batch must be positive");
  if (o.world_size <= 0 || o.rank < 0 || o.rank >= o.world_size)
    throw std::invalid_argument("sampler: rank must be in [0, world_size)");
  if (o.global_batch % o.world_size != 0)
    throw std::invalid_argument("training.global_batch (" + std::to_string(o.global_batch) +
                                ") must be a multiple of the world size (" +
                                std::to_string(o.world_size) + ")");
  if (eos_id < 0 || static_cast<uint64_t>(eos_id) >= store.vocab_size())
    throw std::invalid_argument(store.path() + ": eos id " + std::to_string(eos_id) +
                                " outside the vocabulary");

  // Take documents in the fixed order until the stream holds U tokens: count them first, so
  // that the one array kept (8 bytes per subset document) is allocated once, at its size.
  const uint64_t n_docs = store.num_docs();
  const int64_t want = o.unique_tokens < 0 ? INT64_MAX : o.unique_tokens;
  int64_t len = 0;
  uint64_t count = n_docs;  // the whole store needs no counting pass
  if (o.unique_tokens >= 0) {
    for (count = 0; count < n_docs && len < want; ++count)
      len += static_cast<int64_t>(store.doc_length(order_(count))) + 1;  // + eos
  }
  stream_starts_.reserve(count);
  len = 0;
  for (uint64_t i = 0; i < count; ++i) {
    stream_starts_.push_back(len);
    len += static_cast<int64_t>(store.doc_length(order_(i))) + 1;
  }
  stream_len_ = std::min(len, want);
  num_sequences_ = stream_len_ > 0 ? (stream_len_ - 1) / o.seq_len : 0;
  if (num_sequences_ == 0)
    throw std::invalid_argument(store.path() + ": the unique subset (" +
                                std::to_string(stream_len_) +
                                " tokens) is shorter than one sequence of data.seq_len + 1 = " +
                                std::to_string(o.seq_len + 1) + " tokens");
  const int64_t total = o.total_tokens < 0 ? unique_tokens() : o.total_tokens;
  total_steps_ = total / tokens_per_step();
  if (total_steps_ == 0)
    throw std::invalid_argument("data.total_tokens (" + std::to_string(total) +
                                ") is less than one step of training.global_batch x "
                                "data.seq_len = " +
                                std::to_string(tokens_per_step()) + " tokens");
}

double RepeatSampler::epoch() const {
  return static_cast<double>(step_ * options_.global_batch) / static_cast<double>(num_sequences_);
}

int64_t RepeatSampler::first_global_row(int64_t step) const {
  return step * options_.global_batch + options_.rank * rows_per_rank();
}

int64_t RepeatSampler::sequence_of(int64_t global_row) const {
  const int64_t epoch = global_row / num_sequences_;
  const int64_t pos = global_row % num_sequences_;
  // One permutation object per call is cheap: construction is a few shifts.
  const IndexPermutation perm(
      static_cast<uint64_t>(num_sequences_),
      hash_combine(hash_combine(options_.seed, kEpochOrderTag), static_cast<uint64_t>(epoch)));
  return static_cast<int64_t>(perm(static_cast<uint64_t>(pos)));
}

namespace {

// Reads `count` tokens from position `begin` of an eos-separated stream of documents: stream
// document k is store document doc_of(k) and starts at starts[k]; an eos follows each document.
template <class DocOf>
void read_eos_stream(const TokenStore& store, const std::vector<int64_t>& starts, DocOf doc_of,
                     int32_t eos, int64_t begin, int64_t count, int64_t* out) {
  // Find the document holding `begin`, then walk forward document by document.
  auto it = std::upper_bound(starts.begin(), starts.end(), begin);
  size_t k = static_cast<size_t>(it - starts.begin()) - 1;
  int64_t pos = begin;
  while (count > 0) {
    const uint64_t d = doc_of(k);
    const int64_t doc_len = static_cast<int64_t>(store.doc_length(d));
    const int64_t within = pos - starts[k];
    const int64_t n = std::min(count, doc_len - within);
    if (n > 0) {
      store.read(store.doc_begin(d) + within, n, out);
      out += n, pos += n, count -= n;
    }
    if (count > 0) {  // the eos after document k
      *out++ = eos;
      ++pos, --count, ++k;
    }
  }
}

}  // namespace

void RepeatSampler::read_stream(int64_t begin, int64_t count, int64_t* out) const {
  read_eos_stream(
      store_, stream_starts_, [this](size_t k) { return order_(k); }, eos_, begin, count, out);
}

void RepeatSampler::read_sequence(int64_t seq, int64_t* out) const {
  read_stream(seq * options_.seq_len, options_.seq_len + 1, out);
}

void RepeatSampler::fill(int64_t step, int64_t row, int64_t count, int64_t* out) const {
  const int64_t width = options_.seq_len + 1;
  for (int64_t i = 0; i < count; ++i)
    read_sequence(sequence_of(step * options_.global_batch + row + i), out + i * width);
}

at::Tensor RepeatSampler::next() {
  const int64_t rows = rows_per_rank();
  at::Tensor batch = at::empty({rows, options_.seq_len + 1}, at::kLong);
  fill(step_, options_.rank * rows, rows, batch.data_ptr<int64_t>());
  ++step_;
  return batch;
}

nlohmann::json RepeatSampler::state() const {
  const int64_t row = step_ * options_.global_batch;
  return {{"step", step_},
          {"epoch", row / num_sequences_},
          {"position", row % num_sequences_},
          {"unique_tokens", unique_tokens()},
          {"num_sequences", num_sequences_},
          {"seq_len", options_.seq_len},
          {"global_batch", options_.global_batch},
          {"order_seed", options_.order_seed},
          {"seed", options_.seed}};
}

void RepeatSampler::restore(const nlohmann::json& s) {
  auto expect = [&](const char* key, int64_t mine) {
    const int64_t theirs = s.at(key).get<int64_t>();
    if (theirs != mine)
      throw std::runtime_error("sampler state: " + std::string(key) + " is " +
                               std::to_string(theirs) + " in the checkpoint but " +
                               std::to_string(mine) +
                               " in this run; it describes another "
                               "data stream");
  };
  expect("num_sequences", num_sequences_);
  expect("seq_len", options_.seq_len);
  expect("global_batch", options_.global_batch);
  expect("order_seed", static_cast<int64_t>(options_.order_seed));
  expect("seed", static_cast<int64_t>(options_.seed));
  step_ = s.at("step").get<int64_t>();
}

ValidationSet validation_set(const TokenStore& store, int32_t eos_id, int64_t seq_len,
                             int64_t count) {
  if (seq_len < 2)
    throw std::invalid_argument("validation windows need data.seq_len >= 2 (one context token and "
                                "one scored token), got " +
                                std::to_string(seq_len));
  // Where each document starts in the eos-separated stream.
  std::vector<int64_t> starts(store.num_docs());
  int64_t stream = 0;
  for (uint64_t d = 0; d < store.num_docs(); ++d) {
    starts[d] = stream;
    stream += static_cast<int64_t>(store.doc_length(d)) + 1;
  }
  const int64_t stride = seq_len - 1;
  ValidationSet v;
  v.available = stream >= seq_len ? (stream - 1) / stride : 0;
  const int64_t n = count <= 0 ? v.available : std::min(count, v.available);
  if (count > v.available)
    spdlog::info("{}: the split holds {} validation windows of {} tokens (asked for {}): all are "
                 "used",
                 store.path(), v.available, seq_len, count);
  v.index.resize(n);
  if (n == v.available) {
    for (int64_t i = 0; i < n; ++i) v.index[i] = i;
  } else {
    SplitMix64 rng(hash_combine(kValidationSampleSeed, static_cast<uint64_t>(seq_len)));
    const double u = rng.uniform();
    for (int64_t i = 0; i < n; ++i)
      v.index[i] = std::min<int64_t>(
          v.available - 1, static_cast<int64_t>(std::floor((static_cast<double>(i) + u) *
                                                           static_cast<double>(v.available) /
                                                           static_cast<double>(n))));
  }
  v.windows = at::empty({n, seq_len}, at::kLong);
  int64_t* dst = v.windows.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i)  // the split in corpus order: stream document k is document k
    read_eos_stream(
        store, starts, [](size_t k) { return static_cast<uint64_t>(k); }, eos_id,
        v.index[i] * stride, seq_len, dst + i * seq_len);
  return v;
}

at::Tensor validation_sequences(const TokenStore& store, int32_t eos_id, int64_t seq_len,
                                int64_t count) {
  return validation_set(store, eos_id, seq_len, count).windows;
}

RepeatSampler::Options sampler_options(const RunConfig& config, int rank, int world_size) {
  RepeatSampler::Options so;
  so.unique_tokens = config.data.unique_tokens.is_all() ? -1 : config.data.unique_tokens.value();
  so.total_tokens = config.data.total_tokens.is_all() ? -1 : config.data.total_tokens.value();
  so.seq_len = config.data.seq_len;
  so.global_batch = config.training.global_batch;
  so.order_seed = static_cast<uint64_t>(config.data.order_seed);
  so.seed = static_cast<uint64_t>(config.training.seed);
  so.rank = rank;
  so.world_size = world_size;
  return so;
}

}  // namespace crossover
