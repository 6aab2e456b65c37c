// crossover bench ...: benchmarks that print figures (never asserted by tests).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "crossover/bench/data_bench.h"
#include "crossover/bench/train_bench.h"
#include "crossover/cli/app.h"
#include "crossover/comm/launch.h"
#include "crossover/config/config.h"
#include "crossover/config/device.h"
#include "crossover/model/peak.h"

namespace crossover::cli {

namespace fs = std::filesystem;

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks: print throughput figures");
  bench->require_subcommand(1);
  add_bench_kernels_command(*bench);
  add_bench_generate_command(*bench);

  struct DataOptions {
    std::string dir;
    int64_t seq_len = 2048, batch = 64;
    double seconds = 3.0;
  };
  auto d = std::make_shared<DataOptions>();
  struct TrainOptions {
    std::string config;
    std::vector<std::string> sets;
    std::string objective = "both", profile;
    int64_t vocab = 4096;
    int steps = 10, warmup = 2, threads = -1;
    bool fixed_noise = false;
  };
  auto t = std::make_shared<TrainOptions>();
  auto* train = bench->add_subcommand(
      "train", "Training-step throughput on synthetic tokens: tokens/s, GFLOP/s, % of the "
               "measured matmul peak, for AR and MDM");
  train->add_option("config", t->config, "run config (YAML)")->required();
  train->add_option("--set", t->sets, "override a config key");
  train->add_option("--profile", t->profile,
                    "record the measured steps with LibTorch's profiler: a Chrome trace per "
                    "objective, FILE with -ar / -mdm before its extension");
  train->add_option("--objective", t->objective, "ar, mdm or both")
      ->check(CLI::IsMember({"ar", "mdm", "both"}));
  train->add_option("--vocab", t->vocab, "vocabulary size of the synthetic tokens");
  train->add_option("--steps", t->steps, "measured steps");
  train->add_option("--warmup", t->warmup, "unmeasured steps first");
  train->add_option("--threads", t->threads, "CPU threads (default: hardware.threads)");
  train->add_flag("--fixed-noise", t->fixed_noise,
                  "every step draws step 0's noise (MDM's t and masks, dropout): the same batch "
                  "each step, so the loss falls by the updates alone");
  train->callback([t] {
    std::vector<std::string> sets = t->sets;
    if (t->threads >= 0) sets.push_back("hardware.threads=" + std::to_string(t->threads));
    const RunConfig config = load_config(t->config, sets);
    // Launched like train (scripts/cluster/launch.sh, torchrun, srun), it measures the sharded step;
    // distributed.process_group=always runs the collectives at world size 1 too.
    const LaunchedProcess process = launch_process(config);
    const at::Device device = process.device;
    Comm& comm = *process.comm;
    const PeakReference peak = mfu_reference(config.hardware, device,
                                             resolve_precision(config.hardware, device), 1.0);
    const bool rank0 = comm.rank() == 0;
    if (rank0) {
      std::printf("MFU reference: %.1f GFLOP/s (%s); sharding %s over %d rank(s), %s\n",
                  peak.flops_per_s / 1e9, peak.source.c_str(),
                  to_string(config.distributed.sharding).c_str(), comm.world_size(),
                  comm.backend().c_str());
      std::printf("%-4s %12s %10s %10s %12s %7s %10s %10s %10s\n", "obj", "tokens/s", "step s",
                  "GFLOP/s", "peak GFLOP/s", "MFU", "loss 1st", "loss last", "peak MiB");
    }
    for (const ObjectiveType obj : {ObjectiveType::kAr, ObjectiveType::kMdm}) {
      if (t->objective != "both" && parse_choice<ObjectiveType>(t->objective) != obj) continue;
      std::string profile;
      if (!t->profile.empty()) {
        const fs::path p(t->profile);
        profile =
            (p.parent_path() / (p.stem().string() + "-" + to_string(obj) + p.extension().string()))
                .string();
      }
      const auto r = bench_train_step(config, obj, t->vocab, t->warmup, t->steps, comm, device,
                                      peak.flops_per_s, profile, t->fixed_noise);
      if (!rank0) continue;
      std::printf("%-4s %12.0f %10.3f %10.1f %12.1f %6.1f%% %10.4f %10.4f %10.0f\n",
                  to_string(obj).c_str(), r["tok_per_s"].get<double>(),
                  r["step_seconds"].get<double>(), r["gflops"].get<double>(),
                  r["peak_gflops"].get<double>(), 100 * r["mfu"].get<double>(),
                  r["first_loss"].get<double>(), r["last_loss"].get<double>(),
                  r["peak_memory_mib"].get<double>());
      std::printf("     time per step: %s%s\n", r["time_shares"].get<std::string>().c_str(),
                  t->profile.empty() ? "" : " (with the profiler's overhead)");
      std::printf("%s\n", r.dump().c_str());
    }
    comm.barrier();
  });

  struct SamplerArgs {
    std::string dir = "bench-sampler";
    int64_t docs = 100'000'000;
  };
  auto sa = std::make_shared<SamplerArgs>();
  auto* sampler = bench->add_subcommand(
      "sampler",
      "The sampler's construction time and memory over a synthetic store of N documents");
  sampler->add_option("--dir", sa->dir, "where the synthetic store is written (reused when there)");
  sampler->add_option("--docs", sa->docs, "documents in the store");
  sampler->callback([sa] {
    const auto r = bench_sampler_memory(sa->dir, sa->docs);
    std::printf(
        "sampler over %lld documents (%lld unique tokens): built in %.2f s, %.1f MiB "
        "resident (%.2f bytes per document), %.1f us per batch; store %.2f GB%s\n",
        (long long)r["docs"].get<int64_t>(), (long long)r["unique_tokens"].get<int64_t>(),
        r["construct_s"].get<double>(), r["sampler_bytes"].get<int64_t>() / 1048576.0,
        r["bytes_per_doc"].get<double>(), 1e6 * r["next_s"].get<double>(),
        r["store_bytes"].get<int64_t>() / 1e9,
        r["store_write_s"].get<double>() > 0
            ? fmt::format(" (written in {:.1f} s)", r["store_write_s"].get<double>()).c_str()
            : "");
    std::printf("%s\n", r.dump().c_str());
  });

  auto* data = bench->add_subcommand(
      "data", "Sampler throughput (tokens/s on one core) from a memory-mapped train.bin");
  data->add_option("dir", d->dir, "prepared data directory")->required();
  data->add_option("--seq-len", d->seq_len, "tokens per sequence");
  data->add_option("--batch", d->batch, "sequences per batch");
  data->add_option("--seconds", d->seconds, "how long to measure");
  data->callback([d] {
    const auto r = bench_sampler(d->dir, d->seq_len, d->batch, d->seconds);
    std::printf("sampler: %.1fM tokens/s on 1 core (%lld batches of %lld x %lld in %.2f s)\n",
                r["tokens_per_s"].get<double>() / 1e6, (long long)r["batches"].get<int64_t>(),
                (long long)d->batch, (long long)d->seq_len, r["seconds"].get<double>());
    std::printf("%s\n", r.dump().c_str());
  });
}

}  // namespace crossover::cli
