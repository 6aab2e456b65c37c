#include "crossover/bench/train_bench.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <optional>

#include "crossover/config/device.h"
#include "crossover/distributed/sharding.h"
#include "crossover/model/flops.h"
#include "crossover/model/memory.h"
#include "crossover/objective/objective.h"
#include "crossover/train/train_step.h"
#include "crossover/util/threads.h"

namespace crossover {

nlohmann::json bench_train_step(RunConfig config, ObjectiveType objective, int64_t vocab,
                                int warmup, int steps, Comm& comm, at::Device device, double peak,
                                const std::string& profile, bool fixed_noise) {
  config.objective = config.objective.with_type(objective);
  validate(config);
  const at::ScalarType dtype = resolve_precision(config.hardware, device);
  const int threads = configure_threads(static_cast<int>(config.hardware.threads));

  const int64_t L = config.data.seq_len, B = config.training.global_batch;
  const int world = comm.world_size();
  if (B % world != 0)
    throw ConfigError("training.global_batch (" + std::to_string(B) +
                      ") must be a multiple of the world size " + std::to_string(world));
  const int64_t rows = B / world;
  const int64_t micro = config.training.micro_batch > 0 ? config.training.micro_batch : rows;
  const Transformer model(config.model, vocab, L);
  ShardingOptions so = sharding_options(config.distributed, device, dtype);
  set_cpu_workers(so, config.hardware.cpu_workers, threads, micro);
  auto sharding = make_sharding(so, model, config.optimizer, comm);
  sharding->init(0);
  const auto obj = make_objective(config.objective, model.mask_id());
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1234);
  const at::Tensor windows = at::randint(4, vocab, {B, L + 1}, gen, at::kLong)
                                 .narrow(0, comm.rank() * rows, rows)
                                 .to(device);

  double flops = 0, first_loss = 0, last_loss = 0;
  int64_t tokens = 0;
  PhaseTimer timer(make_device_timeline(device), Phase::kOther);
  sharding->set_timer(&timer);
  PhaseTimes measured;
  std::optional<torch::autograd::profiler::RecordProfile> profiler;
  for (int s = 0; s < warmup + steps; ++s) {
    if (s == warmup) {
      timer.take();  // the warm-up steps are not measured
      if (!profile.empty()) profiler.emplace(profile);
    }
    StepRequest request;
    request.windows = windows;
    // Global rows are numbered step * global_batch + i, as the sampler numbers them; the noise
    // is keyed by (step, global row), so step 0's numbers again give step 0's noise.
    const int64_t noise_step = fixed_noise ? 0 : s;
    request.context = {0, noise_step, noise_step * B + comm.rank() * rows, B};
    request.micro_batch = micro;
    request.lr = 1e-4;
    request.grad_clip = 1.0;
    request.timer = &timer;
    const StepResult r = train_step(*sharding, *obj, comm, request);
    if (s == 0) first_loss = r.loss;
    last_loss = r.loss;
    if (s < warmup) continue;
    flops += step_flops(config.model, vocab, L, r.positions, r.head_rows);
    tokens += r.positions * world;
  }
  measured = timer.take();
  profiler.reset();  // writes the trace
  const double seconds = measured.total();
  const double achieved = flops / seconds;  // this rank
  // What model/memory.h says the step holds, beside what the allocator saw (a GPU's peak).
  RunConfig counted = config;
  counted.hardware.precision = dtype == at::kFloat ? PrecisionChoice::kFp32
                                                   : PrecisionChoice::kBf16;
  const StepMemory counted_memory = step_memory(counted, vocab, world, gpu_kernels_of_this_build());
  return {{"objective", to_string(objective)},
          {"tok_per_s", tokens / seconds},
          {"step_seconds", seconds / steps},
          {"time", phase_seconds_per_step(measured, steps)},
          {"time_shares", phase_shares(measured)},
          {"profiled", !profile.empty()},
          {"fixed_noise", fixed_noise},
          {"gflops", achieved / 1e9},
          {"peak_gflops", peak / 1e9},
          {"mfu", achieved / peak},
          {"params", model.layout().total_numel()},
          {"first_loss", first_loss},
          {"last_loss", last_loss},
          {"peak_memory_mib", static_cast<double>(peak_memory_bytes(device)) / (1 << 20)},
          {"counted_memory_mib", counted_memory.total() / (1 << 20)},
          {"sharding", sharding->name()},
          {"world_size", world},
          {"backend", comm.backend()},
          {"threads", threads},
          {"cpu_workers", so.cpu_workers},
          {"device", device.str()},
          {"dtype", at::toString(dtype)}};
}

}  // namespace crossover
