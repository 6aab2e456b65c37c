// crossover bench kernels (bench/kernel_bench.h).
#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "crossover/bench/kernel_bench.h"
#include "crossover/cli/app.h"

namespace crossover::cli {

void add_bench_kernels_command(CLI::App& bench) {
  auto o = std::make_shared<KernelBenchOptions>();
  auto where = std::make_shared<std::string>("all");
  auto* cmd = bench.add_subcommand(
      "kernels", "Fused kernels (weighted CE, mdm_mask) vs the unfused LibTorch path: time, GB/s");
  cmd->add_option("--rows", o->rows, "rows of logits for weighted_ce, of tokens for mdm_mask");
  cmd->add_option("--vocab", o->vocab, "logit columns for weighted_ce");
  cmd->add_option("--len", o->len, "tokens per row for mdm_mask");
  cmd->add_option("--iters", o->iters, "timed runs per figure (the median is printed)");
  cmd->add_option("--threads", o->threads, "CPU threads (0: every available core)");
  cmd->add_option("--device", *where, "where to run: all, cpu or cuda")
      ->check(CLI::IsMember({"all", "cpu", "cuda"}));
  cmd->callback([o, where] {
    KernelBenchOptions options = *o;
    options.cpu = *where != "cuda";
    options.cuda = *where != "cpu";
    run_kernel_bench(options);
  });
}

}  // namespace crossover::cli
