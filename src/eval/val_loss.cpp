#include "crossover/eval/val_loss.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>

namespace crossover {

double ValLoss::window_sampling_se() const {
  const auto N = static_cast<double>(window_loss.size());
  if (N < 2) return 0;
  double mean = 0, ss = 0;
  for (const double v : window_loss) mean += v;
  mean /= N;
  for (const double v : window_loss) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / (N - 1) / N);
}

ValLoss validation_loss(const Transformer& model, const std::vector<at::Tensor>& flats,
                        const Objective& objective, const at::Tensor& windows, int64_t mc_samples,
                        int64_t batch_rows, Comm& comm) {
  c10::InferenceMode inference;
  const int64_t N = windows.size(0);
  // Per window: its loss and the Monte-Carlo variance of its mean (this rank's rows; zero
  // elsewhere, so the all-reduce assembles them).
  std::vector<double> per(2 * N, 0.0);
  for (int64_t begin = comm.rank() * batch_rows; begin < N;
       begin += comm.world_size() * batch_rows) {
    const int64_t n = std::min(batch_rows, N - begin);
    const at::Tensor s = objective.validation_samples(model, flats, windows.narrow(0, begin, n),
                                                      begin,
                                                      mc_samples);  // [n, K]
    const int64_t K = s.size(1);
    const at::Tensor mean = s.mean(1).contiguous();
    const at::Tensor var = K > 1 ? (s.var(1, /*unbiased=*/true) / K).contiguous()
                                 : at::zeros({n}, at::kDouble);
    std::copy_n(mean.data_ptr<double>(), n, per.begin() + begin);
    std::copy_n(var.data_ptr<double>(), n, per.begin() + N + begin);
  }
  if (comm.world_size() > 1) per = comm.all_reduce_sum(per);
  ValLoss r;
  r.sequences = N;
  double loss_sum = 0, var_sum = 0;
  r.window_loss.assign(per.begin(), per.begin() + N);
  r.window_se.resize(N);
  for (int64_t i = 0; i < N; ++i) {
    loss_sum += per[i];
    var_sum += per[N + i];
    r.window_se[i] = std::sqrt(per[N + i]);
  }
  r.loss = N > 0 ? loss_sum / N : 0.0;
  r.se = N > 0 ? std::sqrt(var_sum) / N : 0.0;
  r.ppl = std::exp(r.loss);
  return r;
}

}  // namespace crossover
