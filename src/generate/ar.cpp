#include "crossover/generate/ar.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <stdexcept>
#include <string>

#include "crossover/generate/sampling.h"

namespace crossover {

ArResult generate_ar(const Transformer& model, const std::vector<at::Tensor>& flats,
                     const std::vector<Prompt>& prompts_in, const ArOptions& options) {
  c10::InferenceMode inference;
  check_sampling_options(options.sampling);
  const int64_t B = static_cast<int64_t>(prompts_in.size());
  ArResult result;
  result.tokens.resize(B);
  result.stopped_at_eos.assign(B, false);
  if (B == 0) return result;

  std::vector<Prompt> prompts = prompts_in;
  int64_t shortest = model.max_seq_len(), end = 0;
  for (int64_t r = 0; r < B; ++r) {
    Prompt& p = prompts[r];
    if (p.empty()) {
      if (options.eos_id < 0)
        throw std::invalid_argument("an empty prompt needs an eos id to start from");
      p = {options.eos_id};
    }
    for (int64_t id : p)
      if (id < 0 || id >= model.vocab())
        throw std::invalid_argument("prompt " + std::to_string(r) + ": token id " +
                                    std::to_string(id) + " outside the vocabulary [0, " +
                                    std::to_string(model.vocab()) + ")");
    const int64_t len = static_cast<int64_t>(p.size());
    check_generation_length(len, options.max_new, model.max_seq_len());
    shortest = std::min(shortest, len);
    end = std::max(end, len + options.max_new);
  }

  // Token ids of every row at every position, on the host; rows that finish keep padding (0).
  at::Tensor ids = at::zeros({B, end}, at::kLong);
  auto ids_a = ids.accessor<int64_t, 2>();
  for (int64_t r = 0; r < B; ++r)
    for (size_t t = 0; t < prompts[r].size(); ++t) ids_a[r][t] = prompts[r][t];

  const at::Device device = flats[0].device();
  KVCache cache;
  if (options.use_cache) cache = model.make_cache(B, end, flats[0].options());
  // Logits [B, V] of the last of positions [0, upto): with the cache only the new positions
  // are fed; without it the whole prefix is run again.
  auto forward = [&](int64_t upto) {
    const int64_t from = options.use_cache ? cache.length : 0;
    const at::Tensor fed = ids.narrow(1, from, upto - from).to(device);
    const at::Tensor h = options.use_cache
                             ? model.hidden(flats, fed, true, &cache, CacheMode::Append)
                             : model.hidden(flats, fed, true);
    ++result.forward_calls;
    result.forward_tokens += B * (upto - from);
    return model.logits(flats[0], h.select(1, h.size(1) - 1));
  };

  std::vector<int64_t> generated(B, 0);
  std::vector<bool> done(B, false);
  at::Tensor last = forward(shortest);
  for (int64_t pos = shortest;; ++pos) {
    if (options.trace) {
      result.trace_positions.push_back(pos);
      result.trace_logits.push_back(last.to(at::kCPU, at::kFloat).clone());
    }
    // Rows past their prompt draw the token at `pos`; the others are teacher-forced.
    std::vector<int64_t> rows, positions;
    std::vector<NoiseKey> keys;
    for (int64_t r = 0; r < B; ++r)
      if (!done[r] && pos >= static_cast<int64_t>(prompts[r].size())) {
        rows.push_back(r);
        positions.push_back(pos);
        keys.push_back(NoiseKey{options.seed, NoiseStream::ArToken, static_cast<uint64_t>(r), 0});
      }
    if (!rows.empty()) {
      const at::Tensor picked = last.index_select(0, at::tensor(rows, at::kLong).to(device));
      const at::Tensor drawn = sample_tokens(picked, options.sampling, keys, positions);
      auto drawn_a = drawn.accessor<int64_t, 1>();
      for (size_t i = 0; i < rows.size(); ++i) {
        const int64_t r = rows[i], token = drawn_a[i];
        if (options.stop_at_eos && token == options.eos_id) {
          result.stopped_at_eos[r] = true;
          done[r] = true;
          continue;
        }
        ids_a[r][pos] = token;
        result.tokens[r].push_back(token);
        if (++generated[r] == options.max_new) done[r] = true;
      }
    }
    if (std::all_of(done.begin(), done.end(), [](bool d) { return d; })) break;
    // An unfinished row needs position pos + 1 < end, so the next forward is in range.
    last = forward(pos + 1);
  }
  return result;
}

}  // namespace crossover
