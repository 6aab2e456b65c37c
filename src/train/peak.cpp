#include "crossover/train/peak.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>

namespace crossover {

double measure_matmul_peak(at::Device device, at::ScalarType dtype, double seconds) {
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const auto opts = at::TensorOptions().device(device).dtype(dtype);
  const at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
  at::Tensor c = at::mm(a, b);  // warm-up
  auto sync = [&] { (void)c.sum().item<float>(); };
  sync();
  // The best rate over short windows: a peak, not an average, so that other work on the
  // machine while it is measured lowers it as little as possible (an MFU above 100% later
  // would mean the reference was taken on a busy machine).
  const double flops_per_window = 2.0 * n * n * n * 4;
  double best = 0;
  const auto start = std::chrono::steady_clock::now();
  for (auto t0 = start;;) {
    for (int i = 0; i < 4; ++i) at::mm_out(c, a, b);
    sync();
    const auto t1 = std::chrono::steady_clock::now();
    best = std::max(best, flops_per_window / std::chrono::duration<double>(t1 - t0).count());
    if (std::chrono::duration<double>(t1 - start).count() >= seconds) break;
    t0 = t1;
  }
  return best;
}

}  // namespace crossover
