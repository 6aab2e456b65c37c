#include "crossover/generate/mdm.h"

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <stdexcept>

#include "crossover/generate/mdm_schedule.h"
#include "crossover/generate/sampling.h"

namespace crossover {

Remasking parse_remasking(const std::string& name) {
  if (name == "low-confidence") return Remasking::LowConfidence;
  if (name == "random") return Remasking::Random;
  throw std::invalid_argument("remasking: expected low-confidence or random, got '" + name + "'");
}

MdmCache parse_mdm_cache(const std::string& name) {
  if (name == "none") return MdmCache::None;
  if (name == "prefix") return MdmCache::Prefix;
  throw std::invalid_argument("cache: expected none or prefix, got '" + name + "'");
}

std::string to_string(Remasking r) { return r == Remasking::Random ? "random" : "low-confidence"; }
std::string to_string(MdmCache c) { return c == MdmCache::Prefix ? "prefix" : "none"; }

void check_mdm_options(const MdmOptions& o) {
  check_sampling_options(o.sampling);
  if (!(o.threshold >= 0 && o.threshold <= 1))
    throw std::invalid_argument("threshold must be in [0, 1] (0: off), got " +
                                std::to_string(o.threshold));
  if (o.threshold > 0 && o.remasking == Remasking::Random)
    throw std::invalid_argument(
        "threshold needs remasking low-confidence: random scores are not confidences");
  plan_blocks(o.max_new, o.block_length, o.steps);  // throws on too few steps
}

namespace {

// Decodes prompts of one length together (rows: their indices in the request).
void generate_group(const Transformer& model, const std::vector<at::Tensor>& flats, bool causal,
                    const std::vector<Prompt>& prompts, const std::vector<int64_t>& rows,
                    const MdmOptions& o, MdmResult& result) {
  const int64_t G = static_cast<int64_t>(rows.size());
  const int64_t P = static_cast<int64_t>(prompts[rows[0]].size());
  const int64_t N = o.max_new, L = P + N, mask = model.mask_id();
  const at::Device device = flats[0].device();

  at::Tensor x = at::full({G, L}, mask, at::kLong);
  auto xa = x.accessor<int64_t, 2>();
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < P; ++t) xa[g][t] = prompts[rows[g]][t];

  const bool prefix = o.cache == MdmCache::Prefix;
  KVCache cache;
  if (prefix) cache = model.make_cache(G, L, flats[0].options());

  // Steps each row has taken (with something to commit): keys its noise. Per row, because
  // with a threshold a row may finish a block before the others and then sit steps out; a
  // row's draws thus never depend on what it is batched with.
  std::vector<int64_t> row_step(G, 0);
  const auto plan = plan_blocks(N, o.block_length, o.steps);
  for (size_t b = 0; b < plan.size(); ++b) {
    const int64_t s0 = P + plan[b].start, Lb = plan[b].length;
    const std::vector<int64_t> counts = commit_counts(Lb, plan[b].steps);
    for (int64_t i = 0;; ++i) {
      std::vector<std::vector<int64_t>> masked(G);  // per row: masked positions of the block
      bool any = false;
      for (int64_t g = 0; g < G; ++g)
        for (int64_t j = s0; j < s0 + Lb; ++j)
          if (xa[g][j] == mask) masked[g].push_back(j), any = true;
      if (!any) break;
      if (o.threshold == 0 && i >= static_cast<int64_t>(counts.size()))
        throw std::logic_error("mdm: block not finished after its scheduled steps");

      // Forward over positions [from, L).
      int64_t from = 0;
      at::Tensor h;
      if (!prefix) {
        h = model.hidden(flats, x.to(device), causal);
      } else if (i == 0) {
        // Appends from the previous block's start (the prompt's at the first block), so the
        // finished block enters the cache with its final tokens; then keep only what precedes
        // this block: the rest is recomputed at every step.
        from = cache.length;
        h = model.hidden(flats, x.narrow(1, from, L - from).to(device), causal, &cache,
                         CacheMode::Append);
        cache.length = s0;
      } else {
        from = s0;
        h = model.hidden(flats, x.narrow(1, s0, L - s0).to(device), causal, &cache,
                         CacheMode::Read);
      }
      ++result.forward_calls;
      result.forward_tokens += G * (L - from);
      std::vector<int64_t> flat_index, positions;
      std::vector<NoiseKey> token_keys, remask_keys;
      for (int64_t g = 0; g < G; ++g)
        for (int64_t j : masked[g]) {
          flat_index.push_back(g * Lb + (j - s0));
          positions.push_back(j);
          token_keys.push_back(NoiseKey{o.seed, NoiseStream::MdmToken,
                                        static_cast<uint64_t>(rows[g]),
                                        static_cast<uint64_t>(row_step[g])});
          remask_keys.push_back(NoiseKey{o.seed, NoiseStream::MdmRemask,
                                         static_cast<uint64_t>(rows[g]),
                                         static_cast<uint64_t>(row_step[g])});
        }
      // Logits only where something can be committed: the masked positions of the block (the
      // LM head is a large share of a small model's cost).
      const at::Tensor block_hidden = h.narrow(1, s0 - from, Lb).reshape({G * Lb, h.size(2)});
      const at::Tensor lg = model.logits(
          flats[0], block_hidden.index_select(0, at::tensor(flat_index, at::kLong).to(device)));
      const at::Tensor x0 = sample_tokens(lg, o.sampling, token_keys, positions);
      // The head has V rows and [MASK] is V: a prediction can never be [MASK].
      TORCH_CHECK(x0.max().item<int64_t>() < mask, "mdm: [MASK] predicted");
      at::Tensor confidence;
      if (o.remasking == Remasking::LowConfidence) {
        const at::Tensor l = lg.to(at::kFloat);
        confidence =
            at::exp(l.gather(1, x0.to(device).unsqueeze(1)).squeeze(1) - at::logsumexp(l, -1))
                .to(at::kCPU, at::kDouble);
      } else {
        confidence = philox_uniform(remask_keys, positions, 1).squeeze(1);
      }
      const auto x0_a = x0.accessor<int64_t, 1>();
      const auto conf_a = confidence.accessor<double, 1>();

      MdmStepTrace trace;
      trace.block = static_cast<int64_t>(b);
      int64_t offset = 0;  // row g's entries start here in the flattened arrays
      for (int64_t g = 0; g < G; ++g) {
        const int64_t m = static_cast<int64_t>(masked[g].size());
        std::vector<int64_t> order(m);
        std::iota(order.begin(), order.end(), offset);
        // Most confident first; ties to the leftmost position (stable over the sorted input).
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t c) { return conf_a[a] > conf_a[c]; });
        int64_t k = 0;
        if (m > 0) {
          if (o.threshold > 0) {
            k = 1;
            while (k < m && conf_a[order[k]] >= o.threshold) ++k;
          } else {
            k = counts[i];
            if (k > m) throw std::logic_error("mdm: schedule commits more than is masked");
          }
        }
        std::vector<int64_t> committed;
        for (int64_t c = 0; c < k; ++c) {
          const int64_t e = order[c];
          xa[g][positions[e]] = x0_a[e];
          committed.push_back(positions[e] - P);
        }
        std::sort(committed.begin(), committed.end());
        if (o.trace) {
          trace.rows.push_back(rows[g]);
          trace.committed.push_back(std::move(committed));
        }
        offset += m;
        if (m > 0) ++row_step[g];
      }
      if (o.trace) result.trace.push_back(std::move(trace));
    }
  }
  if (at::eq(x, mask).any().item<bool>()) throw std::logic_error("mdm: [MASK] left in the output");
  for (int64_t g = 0; g < G; ++g) {
    const int64_t* row = x[g].data_ptr<int64_t>();
    result.sequences[rows[g]] = std::vector<int64_t>(row, row + L);
    result.tokens[rows[g]] = std::vector<int64_t>(row + P, row + L);
  }
}

}  // namespace

MdmResult generate_mdm(const Transformer& model, const std::vector<at::Tensor>& flats,
                       const std::vector<Prompt>& prompts, const MdmOptions& options) {
  c10::InferenceMode inference;
  check_mdm_options(options);
  MdmResult result;
  result.tokens.resize(prompts.size());
  result.sequences.resize(prompts.size());
  std::map<int64_t, std::vector<int64_t>> by_length;
  for (size_t r = 0; r < prompts.size(); ++r) {
    for (int64_t id : prompts[r])
      if (id < 0 || id >= model.vocab())
        throw std::invalid_argument("prompt " + std::to_string(r) + ": token id " +
                                    std::to_string(id) + " outside the vocabulary [0, " +
                                    std::to_string(model.vocab()) + ")");
    check_generation_length(static_cast<int64_t>(prompts[r].size()), options.max_new,
                            model.max_seq_len());
    by_length[static_cast<int64_t>(prompts[r].size())].push_back(static_cast<int64_t>(r));
  }
  for (const auto& [length, rows] : by_length)
    generate_group(model, flats, options.causal_attention, prompts, rows, options, result);
  return result;
}

}  // namespace crossover
