// crossover bench ...: benchmarks that print figures (never asserted by tests).
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "crossover/cli/app.h"
#include "crossover/data/bench.h"

namespace crossover::cli {

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks: print throughput figures");
  bench->require_subcommand(1);

  struct DataOptions {
    std::string dir;
    int64_t seq_len = 2048, batch = 64;
    double seconds = 3.0;
  };
  auto d = std::make_shared<DataOptions>();
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
