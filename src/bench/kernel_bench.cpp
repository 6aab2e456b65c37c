// `crossover bench kernels`: times the fused kernels of kernels/ against the unfused LibTorch path
// they replace, on the CPU (the references) and, in a CUDA build with a device, on the GPU.
//   weighted_ce: fused loss + dlogits in place, vs log_softmax + gather (loss) and
//                softmax - onehot (gradient), which materialise [rows, V] probabilities.
//   mdm_mask:    Philox masks, noisy ids and weights in one pass, vs rand, compare,
//                masked_fill and the weight product as separate ops.
// Effective GB/s counts the bytes the fused op must move at least (read the logits and write the
// dlogits; read the tokens and write noisy ids, mask and weights) over the measured time, for
// both paths, so the two figures compare directly. Figures are printed, never asserted.
#include "crossover/bench/kernel_bench.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "crossover/config/device.h"
#include "crossover/kernels/ops.h"
#include "crossover/util/threads.h"

namespace crossover {

namespace {

constexpr int64_t kMaskId = 1;  // any id; the timing does not depend on it

bool on_cuda(const at::Device& d) { return d.is_cuda(); }

// Median wall time in ms of `iters` runs of `run`, each after an untimed `prepare`, after one
// untimed warm-up (allocator, caches, lazy initialisation).
double median_ms(const at::Device& device, int iters, const std::function<void()>& prepare,
                 const std::function<void()>& run) {
  std::vector<double> ms;
  for (int i = 0; i <= iters; ++i) {
    prepare();
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    run();
    synchronize(device);
    const auto stop = std::chrono::steady_clock::now();
    if (i > 0) ms.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void print_row(const char* device, const char* op, const char* dtype, double bytes, double fused_ms,
               double unfused_ms) {
  std::printf("%-5s %-12s %-5s %10.3f %9.1f %12.3f %9.1f %8.2fx\n", device, op, dtype, fused_ms,
              bytes / fused_ms / 1e6, unfused_ms, bytes / unfused_ms / 1e6, unfused_ms / fused_ms);
}

void bench_weighted_ce(const KernelBenchOptions& o, const at::Device& device,
                       at::ScalarType dtype) {
  const int64_t rows = o.rows, V = o.vocab, num_valid = o.vocab - 1;  // the last column: [MASK]
  const float grad_scale = 1.0f / static_cast<float>(rows);
  const auto opts = at::TensorOptions().device(device);
  const at::Tensor pristine = (at::randn({rows, V}, opts.dtype(at::kFloat)) * 3.0).to(dtype);
  const at::Tensor targets = at::randint(0, num_valid, {rows}, opts.dtype(at::kLong));
  const at::Tensor weights = at::rand({rows}, opts.dtype(at::kFloat));
  at::Tensor work = at::empty_like(pristine);
  at::Tensor loss = at::empty({rows}, opts.dtype(at::kFloat));

  const double fused = median_ms(
      device, o.iters, [&] { work.copy_(pristine); },
      [&] { loss = ops::weighted_ce_(work, targets, weights, num_valid, grad_scale); });

  at::Tensor unfused_loss, unfused_grad;
  const double unfused = median_ms(
      device, o.iters, [] {},
      [&] {
        const at::Tensor x = pristine.narrow(1, 0, num_valid);
        const at::Tensor logp = at::log_softmax(x, 1, at::kFloat);
        unfused_loss = -logp.gather(1, targets.unsqueeze(1)).squeeze(1) * weights;
        const at::Tensor probs = at::softmax(x, 1, at::kFloat);
        const at::Tensor onehot = at::zeros_like(probs).scatter_(1, targets.unsqueeze(1), 1.0);
        unfused_grad = ((probs - onehot) * (weights * grad_scale).unsqueeze(1)).to(dtype);
      });

  const double bytes = 2.0 * static_cast<double>(rows * V) * pristine.element_size();
  print_row(on_cuda(device) ? "cuda" : "cpu", "weighted_ce", dtype == at::kFloat ? "fp32" : "bf16",
            bytes, fused, unfused);
}

void bench_mdm_mask(const KernelBenchOptions& o, const at::Device& device) {
  const int64_t rows = o.rows, len = o.len;
  const auto opts = at::TensorOptions().device(device);
  const at::Tensor tokens = at::randint(2, 30000, {rows, len}, opts.dtype(at::kLong));
  const at::Tensor t = at::rand({rows}, opts.dtype(at::kFloat));
  ops::Masked out;
  kernels::MaskParams p;
  p.seed = 1234;
  p.step = 7;
  p.mask_id = kMaskId;
  p.scale = 1.0f / static_cast<float>(rows);

  const double fused = median_ms(
      device, o.iters, [] {}, [&] { out = ops::mdm_mask(tokens, t, p); });

  at::Tensor u_noisy, u_weight;
  const double unfused = median_ms(
      device, o.iters, [] {},
      [&] {
        const at::Tensor u = at::rand({rows, len}, opts.dtype(at::kFloat));
        const at::Tensor m = u < t.unsqueeze(1);
        u_noisy = tokens.masked_fill(m, kMaskId);
        u_weight = m.to(at::kFloat) * (p.scale / (t * static_cast<float>(len))).unsqueeze(1);
      });

  // Read int64 tokens; write int64 noisy ids, uint8 mask, float weights.
  const double bytes = static_cast<double>(rows * len) * (8 + 8 + 1 + 4);
  print_row(on_cuda(device) ? "cuda" : "cpu", "mdm_mask", "-", bytes, fused, unfused);
}

}  // namespace

void run_kernel_bench(const KernelBenchOptions& o) {
  if (o.rows < 1 || o.vocab < 2 || o.len < 1 || o.iters < 1) {
    throw std::invalid_argument(
        "bench kernels: --rows, --len and --iters must be >= 1, --vocab >= 2");
  }
  const bool want_cpu = o.cpu, want_cuda = o.cuda;
  const int threads = configure_threads(o.threads);
  at::manual_seed(0);
  std::printf("kernel bench: weighted_ce on %lld x %lld logits (last column excluded), mdm_mask on "
              "%lld x %lld tokens; median of %d runs\n",
              (long long)o.rows, (long long)o.vocab, (long long)o.rows, (long long)o.len, o.iters);
  std::printf("GB/s: minimal bytes of the fused op / time, for both paths\n");
  std::printf("%-5s %-12s %-5s %10s %9s %12s %9s %9s\n", "dev", "op", "dtype", "fused ms", "GB/s",
              "unfused ms", "GB/s", "speedup");
  if (want_cpu) {
    std::printf("# cpu: %d threads\n", threads);
    bench_weighted_ce(o, at::Device(at::kCPU), at::kFloat);
    bench_mdm_mask(o, at::Device(at::kCPU));
  }
  if (!want_cuda) return;
#ifdef CROSSOVER_WITH_CUDA
  if (!at::hasCUDA()) {
    std::printf("# cuda: no device, skipped\n");
    return;
  }
  const at::Device gpu(at::kCUDA, 0);
  bench_weighted_ce(o, gpu, at::kFloat);
  bench_weighted_ce(o, gpu, at::kBFloat16);
  bench_mdm_mask(o, gpu);
#else
  std::printf("# cuda: not in this build (configure with -DCROSSOVER_CUDA=ON), skipped\n");
#endif
}

}  // namespace crossover
