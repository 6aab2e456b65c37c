#include "crossover/train/peak.h"

#include <ATen/ATen.h>

#include <chrono>

namespace crossover {

double measure_matmul_peak(at::Device device, at::ScalarType dtype, double seconds) {
  const int64_t n = device.is_cuda() ? 8192 : 1024;
  const auto opts = at::TensorOptions().device(device).dtype(dtype);
  const at::Tensor a = at::randn({n, n}, opts), b = at::randn({n, n}, opts);
  at::Tensor c = at::mm(a, b);  // warm-up
  auto sync = [&] { (void)c.sum().item<float>(); };
  sync();
  int64_t iters = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    for (int i = 0; i < 4; ++i) at::mm_out(c, a, b);
    iters += 4;
    sync();
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return 2.0 * n * n * n * iters / elapsed;
}

}  // namespace crossover
