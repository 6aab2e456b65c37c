#include "crossover/eval/val_loss.h"

#include <ATen/ATen.h>

#include <cmath>


namespace crossover {

ValLoss validation_loss(const Transformer& model, const std::vector<at::Tensor>& flats,
                        const Objective& objective, const at::Tensor& windows,
                        int64_t mc_samples, int64_t batch_rows, Comm& comm) {
  c10::InferenceMode inference;
  const int64_t N = windows.size(0);
  // sum of per-sequence losses, sum of per-sequence Monte-Carlo variances of the mean
  double loss_sum = 0, var_sum = 0;
  for (int64_t begin = comm.rank() * batch_rows; begin < N; begin += comm.world_size() * batch_rows) {
    const int64_t n = std::min(batch_rows, N - begin);
    const at::Tensor s = objective.validation_samples(model, flats, windows.narrow(0, begin, n), begin,
                                                      mc_samples);  // [n, K]
    const int64_t K = s.size(1);
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
