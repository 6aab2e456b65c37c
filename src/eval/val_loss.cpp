#include "crossover/eval/val_loss.h"

#include <ATen/ATen.h>

#include <cmath>

#include "crossover/kernels/ops.h"
#include "crossover/model/loss_head.h"
#include "crossover/objective/objective.h"

namespace crossover {

ValLoss validation_loss(const Transformer& model, const std::vector<at::Tensor>& flats,
                        const ObjectiveConfig& objective, const at::Tensor& windows,
                        int64_t mc_samples, int64_t batch_rows, Comm& comm) {
  c10::InferenceMode inference;
  const at::Device device = flats[0].device();
  const int64_t N = windows.size(0), L = windows.size(1) - 1;
  const at::Tensor head = model.head_weight(flats[0]);
  const bool mdm = objective.type == "mdm";
  const int64_t K = mdm ? mc_samples : 1;
  // sum of per-sequence losses, sum of per-sequence Monte-Carlo variances of the mean
  double loss_sum = 0, var_sum = 0;
  for (int64_t begin = comm.rank() * batch_rows; begin < N; begin += comm.world_size() * batch_rows) {
    const int64_t n = std::min(batch_rows, N - begin);
    const at::Tensor w = windows.narrow(0, begin, n);
    if (!mdm) {
      const at::Tensor h = model.hidden(flats, w.narrow(1, 0, L).to(device), true);
      const at::Tensor nll = token_nll(h, head, w.narrow(1, 1, L).to(device)).view({n, L});
      loss_sum += nll.sum().item<double>() / L;
      continue;
    }
    const at::Tensor x0 = w.narrow(1, 0, L).contiguous();
    const auto schedule = make_noise_schedule(objective.schedule);
    std::vector<at::Tensor> samples;  // [n] per sample
    for (int64_t k = 0; k < K; ++k) {
      // Sample k of sequence i: t stratified over k, offset per sequence.
      at::Tensor t = at::empty({n}, at::kFloat);
      for (int64_t i = 0; i < n; ++i) {
        const double u = diffusion_time(kValidationSeed, 0, begin + i, 1, 0.0, false);
        const double tk = std::fmod(u + static_cast<double>(k) / K, 1.0);
        t[i] = static_cast<float>(schedule->mask_probability(objective.eps + (1 - objective.eps) * tk));
      }
      kernels::MaskParams p;
      p.seed = kValidationSeed;
      p.step = static_cast<uint64_t>(k);
      p.global_row0 = begin;
      p.mask_id = model.mask_id();
      p.weighting = kernels::kWeightInverseT;  // ELBO weights: evaluation is always the bound
      p.scale = 1.0f;
      p.norm_len = L;
      const auto m = ops::mdm_mask(x0, t, p);
      const at::Tensor h = model.hidden(flats, m.noisy.to(device), false);
      // Per-token NLL on masked rows only, weighted.
      const at::Tensor wt = m.weight.to(device).reshape({-1});
      const at::Tensor rows = wt.ne(0).nonzero().squeeze(1);
      const at::Tensor nll = token_nll(h.reshape({-1, h.size(-1)}).index_select(0, rows), head,
                                       x0.to(device).reshape({-1}).index_select(0, rows));
      at::Tensor per_seq = at::zeros({n * L}, nll.options());
      per_seq.index_put_({rows}, nll * wt.index_select(0, rows));
      samples.push_back(per_seq.view({n, L}).sum(1).to(at::kDouble).cpu());
    }
    const at::Tensor s = at::stack(samples, 1);  // [n, K]
    loss_sum += s.mean(1).sum().item<double>();
    if (K > 1) var_sum += (s.var(1, /*unbiased=*/true) / K).sum().item<double>();
  }
  const auto sums = comm.all_reduce_sum(std::vector<double>{loss_sum, var_sum});
  loss_sum = sums[0];
  var_sum = sums[1];
  ValLoss r;
  r.sequences = N;
  r.loss = N > 0 ? loss_sum / N : 0.0;
  r.se = N > 0 ? std::sqrt(var_sum) / N : 0.0;
  r.ppl = std::exp(r.loss);
  return r;
}

}  // namespace crossover
