#include "crossover/train/bench.h"

#include <ATen/ATen.h>

#include <chrono>

#include "crossover/dist/sharding.h"
#include "crossover/model/flops.h"
#include "crossover/objective/objective.h"
#include "crossover/train/peak.h"
#include "crossover/train/trainer.h"
#include "crossover/util/threads.h"

namespace crossover {

nlohmann::json bench_train_step(RunConfig config, const std::string& objective, int64_t vocab,
                                int warmup, int steps, double peak) {
  config.objective.type = objective;
  if (objective == "mdm") config.objective.ar_input_mask_prob = 0;
  validate(config);
  const at::Device device = resolve_device(config.hardware);
  const at::ScalarType dtype = resolve_precision(config.hardware, device);
  const int threads = configure_threads(static_cast<int>(config.hardware.threads));
  if (peak <= 0) peak = measure_matmul_peak(device, dtype);

  const int64_t L = config.data.seq_len, B = config.training.global_batch;
  const int64_t micro = config.training.micro_batch > 0 ? config.training.micro_batch : B;
  const Transformer model(config.model, vocab, L, config.optimizer);
  auto comm = make_local_comm();
  ShardingOptions so;
  so.device = device;
  so.compute_dtype = dtype;
  auto sharding = make_sharding(so, model, config.optimizer, *comm);
  sharding->init(0);
  const auto obj = make_objective(config.objective, model.mask_id());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  const at::Tensor windows = at::randint(4, vocab, {B, L + 1}, gen, at::kLong);

  double seconds = 0, flops = 0;
  int64_t tokens = 0;
  for (int s = 0; s < warmup + steps; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    sharding->optimizer().zero_grads();
    int64_t head_rows = 0;
    for (int64_t m = 0; m < B / micro; ++m) {
      const Batch batch = obj->make_batch(windows.narrow(0, m * micro, micro),
                                          StepContext{0, s, m * micro, B});
      head_rows += batch.weights.ne(0).sum().item<int64_t>();
      (void)sharding->forward_backward(batch).item<double>();
    }
    sharding->reduce_gradients();
    sharding->optimizer().scale_grads(clip_factor(sharding->grad_norm(), 1.0));
    sharding->optimizer().step(1e-4);
    if (device.is_cuda()) (void)at::zeros({1}, at::TensorOptions().device(device)).item<float>();
    if (s < warmup) continue;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    flops += step_flops(config.model, vocab, L, B * L, head_rows);
    tokens += B * L;
  }
  const double achieved = flops / seconds;
  return {{"objective", objective},
          {"tok_per_s", tokens / seconds},
          {"step_seconds", seconds / steps},
          {"gflops", achieved / 1e9},
          {"peak_gflops", peak / 1e9},
          {"mfu", achieved / peak},
          {"params", model.layout().total_numel()},
          {"threads", threads},
          {"device", device.str()},
          {"dtype", at::toString(dtype)}};
}

}  // namespace crossover
