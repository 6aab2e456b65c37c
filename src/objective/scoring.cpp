#include "crossover/objective/scoring.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "crossover/kernels/mdm_mask.h"
#include "crossover/kernels/ops.h"
#include "crossover/model/loss_head.h"
#include "crossover/objective/objective.h"
#include "crossover/util/random.h"

namespace crossover {

namespace {

at::Tensor long_tensor(const std::vector<int64_t>& v) {
  return at::tensor(at::ArrayRef<int64_t>(v), at::kLong);
}

// Mean and standard error of a sample.
OptionNll summarise(const std::vector<double>& values) {
  OptionNll r;
  const double K = static_cast<double>(values.size());
  for (const double v : values) r.nll += v;
  r.nll /= K;
  if (values.size() > 1) {
    double ss = 0;
    for (const double v : values) ss += (v - r.nll) * (v - r.nll);
    r.se = std::sqrt(ss / (K - 1) / K);
  }
  return r;
}

}  // namespace

std::vector<std::vector<int64_t>> estimator_masks(int64_t L, int64_t K, uint64_t key) {
  SplitMix64 offset(key);
  const double v = offset.uniform();
  std::vector<std::vector<int64_t>> masks;
  masks.reserve(K);
  std::vector<int64_t> perm(L);
  for (int64_t k = 0; k < K; ++k) {
    // Sample k draws l from the k-th of K equal strata of [0, L): uniform over {1..L} when k
    // is, and spread over the whole range whatever K (K < L included).
    const int64_t l = std::min<int64_t>(
        L, 1 + static_cast<int64_t>(std::floor((static_cast<double>(k) + v) *
                                               static_cast<double>(L) / static_cast<double>(K))));
    // A uniform l-subset: the first l entries of a partial Fisher-Yates shuffle.
    for (int64_t i = 0; i < L; ++i) perm[i] = i;
    SplitMix64 rng(hash_combine(key, static_cast<uint64_t>(k) + 1));
    for (int64_t i = 0; i < l; ++i)
      std::swap(perm[i], perm[i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(L - i)))]);
    std::vector<int64_t> s(perm.begin(), perm.begin() + l);
    std::sort(s.begin(), s.end());
    masks.push_back(std::move(s));
  }
  return masks;
}

std::vector<OptionNll> ar_option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                     const TokenizedExample& ex, const ScoreOptions& options) {
  c10::InferenceMode inference;
  const at::Device device = flats[0].device();
  const at::Tensor head = model.head_weight(flats[0]);
  const int64_t C = static_cast<int64_t>(ex.context.size());
  const size_t n = ex.options.size();
  std::vector<OptionNll> out(n);
  for (size_t j0 = 0; j0 < n;) {
    // As many options as fit max_batch_tokens (all of them, normally) share one forward.
    size_t j1 = j0;
    int64_t T = 0;
    while (j1 < n) {
      const int64_t t = std::max<int64_t>(T, C + static_cast<int64_t>(ex.options[j1].size()) - 1);
      if (j1 > j0 && static_cast<int64_t>(j1 - j0 + 1) * t > options.max_batch_tokens) break;
      T = t;
      ++j1;
    }
    const int64_t rows = static_cast<int64_t>(j1 - j0);
    // Right padding (id 0): causal attention keeps it out of every scored position.
    std::vector<int64_t> ids(rows * T, 0), where, targets, owner;
    for (int64_t r = 0; r < rows; ++r) {
      const auto& opt = ex.options[j0 + r];
      const int64_t L = static_cast<int64_t>(opt.size());
      std::copy(ex.context.begin(), ex.context.end(), ids.begin() + r * T);
      std::copy(opt.begin(), opt.end() - 1, ids.begin() + r * T + C);
      // Option token i is predicted at position C - 1 + i.
      for (int64_t i = 0; i < L; ++i) {
        where.push_back(r * T + C - 1 + i);
        targets.push_back(opt[i]);
        owner.push_back(r);
      }
    }
    const at::Tensor h = model.hidden(flats, long_tensor(ids).view({rows, T}).to(device), true);
    const at::Tensor nll =
        token_nll(h.reshape({-1, h.size(-1)}).index_select(0, long_tensor(where).to(device)), head,
                  long_tensor(targets).to(device));
    const at::Tensor sums =
        at::zeros({rows}, at::kDouble).index_add_(0, long_tensor(owner), nll.to(at::kDouble).cpu());
    for (int64_t r = 0; r < rows; ++r) out[j0 + r].nll = sums[r].item<double>();
    j0 = j1;
  }
  return out;
}

std::vector<OptionNll> mdm_option_nll(const Transformer& model,
                                      const std::vector<at::Tensor>& flats,
                                      const TokenizedExample& ex, uint64_t example_key,
                                      const ScoreOptions& options) {
  c10::InferenceMode inference;
  const at::Device device = flats[0].device();
  const at::Tensor head = model.head_weight(flats[0]);
  const int64_t C = static_cast<int64_t>(ex.context.size());
  const size_t n = ex.options.size();
  const uint64_t key = hash_combine(options.seed, example_key);

  // Options of equal length share forwards; the model sees every position, so no padding.
  std::map<int64_t, std::vector<size_t>> by_length;
  for (size_t j = 0; j < n; ++j) by_length[static_cast<int64_t>(ex.options[j].size())].push_back(j);

  std::vector<OptionNll> out(n);
  for (const auto& [L, group] : by_length) {
    const int64_t K = L == 1 ? 1 : std::max<int64_t>(1, options.samples);
    const int64_t T = C + L;
    // Row (g, k): option group[g], sample k.
    // Common random numbers: the options of one length are scored on the same masks, so
    // the noise of the estimator largely cancels in their comparison.
    const auto masks = estimator_masks(L, K, hash_combine(key, static_cast<uint64_t>(L)));
    std::vector<std::vector<double>> values(group.size(), std::vector<double>(K));
    const int64_t total_rows = static_cast<int64_t>(group.size()) * K;
    const int64_t per_forward = std::max<int64_t>(1, options.max_batch_tokens / T);
    for (int64_t r0 = 0; r0 < total_rows; r0 += per_forward) {
      const int64_t rows = std::min(per_forward, total_rows - r0);
      std::vector<int64_t> ids(rows * T), where, targets, owner;
      std::vector<double> weight(rows);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t g = (r0 + r) / K, k = (r0 + r) % K;
        const auto& opt = ex.options[group[g]];
        const auto& masked = masks[k];
        std::copy(ex.context.begin(), ex.context.end(), ids.begin() + r * T);
        std::copy(opt.begin(), opt.end(), ids.begin() + r * T + C);
        for (const int64_t p : masked) {
          ids[r * T + C + p] = model.mask_id();
          where.push_back(r * T + C + p);
          targets.push_back(opt[p]);
          owner.push_back(r);
        }
        weight[r] = static_cast<double>(L) / static_cast<double>(masked.size());
      }
      const at::Tensor h = model.hidden(flats, long_tensor(ids).view({rows, T}).to(device), false);
      const at::Tensor nll =
          token_nll(h.reshape({-1, h.size(-1)}).index_select(0, long_tensor(where).to(device)),
                    head, long_tensor(targets).to(device));
      const at::Tensor sums = at::zeros({rows}, at::kDouble)
                                  .index_add_(0, long_tensor(owner), nll.to(at::kDouble).cpu());
      const double* s = sums.data_ptr<double>();
      for (int64_t r = 0; r < rows; ++r) values[(r0 + r) / K][(r0 + r) % K] = weight[r] * s[r];
    }
    for (size_t g = 0; g < group.size(); ++g) out[group[g]] = summarise(values[g]);
  }
  return out;
}

at::Tensor ar_validation_samples(const Transformer& model, const std::vector<at::Tensor>& flats,
                                 const at::Tensor& w) {
  c10::InferenceMode inference;
  const at::Device device = flats[0].device();
  const int64_t n = w.size(0), S = w.size(1) - kValidationContext;  // scored tokens per window
  const at::Tensor head = model.head_weight(flats[0]);
  // Token p (1 <= p < L) is predicted from tokens 0..p-1: input w[:, :L-1], target w[:, 1:].
  const at::Tensor h = model.hidden(flats, w.narrow(1, 0, S).to(device), true);
  const at::Tensor nll =
      token_nll(h, head, w.narrow(1, kValidationContext, S).to(device)).view({n, S});
  return (nll.to(at::kDouble).sum(1, /*keepdim=*/true) / S).cpu();
}

ops::Masked mdm_validation_corruption(const at::Tensor& x0, int64_t first_row, int64_t k, int64_t K,
                                      double eps, const NoiseSchedule& schedule, int64_t mask_id) {
  const int64_t n = x0.size(0), L = x0.size(1), S = L - kValidationContext;
  // Sample k of sequence i: t stratified over k, offset per sequence.
  at::Tensor t = at::empty({n}, at::kFloat);
  for (int64_t i = 0; i < n; ++i) {
    const double u = diffusion_time(kValidationSeed, 0, first_row + i, 1, 0.0, false);
    const double tk = std::fmod(u + static_cast<double>(k) / static_cast<double>(K), 1.0);
    t[i] = static_cast<float>(schedule.mask_probability(eps + (1 - eps) * tk));
  }
  kernels::MaskParams p;
  p.seed = kValidationSeed;
  p.step = static_cast<uint64_t>(k);
  p.global_row0 = first_row;
  p.mask_id = mask_id;
  p.weighting = kernels::kWeightInverseT;  // ELBO weights: evaluation is always the bound
  p.scale = 1.0f;
  p.norm_len = S;
  // Only the scored positions are corrupted; the context token stays visible, with weight 0.
  auto m = ops::mdm_mask(x0.narrow(1, kValidationContext, S).contiguous(), t, p);
  const at::Tensor head_tokens = x0.narrow(1, 0, kValidationContext);
  ops::Masked out;
  out.noisy = at::cat({head_tokens, m.noisy}, 1);
  out.mask = at::cat({at::zeros({n, kValidationContext}, m.mask.options()), m.mask}, 1);
  out.weight = at::cat({at::zeros({n, kValidationContext}, m.weight.options()), m.weight}, 1);
  out.signal = m.signal;  // the context column carries no weight
  return out;
}

at::Tensor mdm_validation_samples(const Transformer& model, const std::vector<at::Tensor>& flats,
                                  const at::Tensor& w, int64_t begin, int64_t K, double eps,
                                  const NoiseSchedule& schedule) {
  c10::InferenceMode inference;
  const at::Device device = flats[0].device();
  const int64_t n = w.size(0), L = w.size(1);
  const at::Tensor head = model.head_weight(flats[0]);
  // Masks are drawn where the model runs (the CUDA kernel on a GPU, bit-identical to the CPU
  // reference): only token ids cross to the device.
  const at::Tensor x0 = w.contiguous().to(device);
  // On a GPU the K samples are queued without a host sync: the masked rows are selected by the
  // count the host knows (ops::Masked::signal), and the results cross to the host once, at the
  // end.
  std::vector<at::Tensor> samples;  // [n] per sample
  for (int64_t k = 0; k < K; ++k) {
    const auto m = mdm_validation_corruption(x0, begin, k, K, eps, schedule, model.mask_id());
    const at::Tensor h = model.hidden(flats, m.noisy, false);
    // Per-token NLL on masked rows only, weighted.
    const at::Tensor wt = m.weight.reshape({-1});
    const at::Tensor rows = signal_row_index(wt, m.signal);
    const at::Tensor nll = token_nll(h.reshape({-1, h.size(-1)}).index_select(0, rows), head,
                                     x0.reshape({-1}).index_select(0, rows));
    at::Tensor per_seq = at::zeros({n * L}, nll.options());
    per_seq.index_put_({rows}, nll * wt.index_select(0, rows));
    samples.push_back(per_seq.view({n, L}).sum(1).to(at::kDouble));
  }
  return at::stack(samples, 1).cpu();
}

}  // namespace crossover
