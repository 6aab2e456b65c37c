// crossover checkpoint consolidate RUN_DIR [--step N] --out DIR (checkpoint/consolidate.h).
// crossover checkpoint verify RUN_DIR [--step N]: every file's checksum, one line, exit 1 if not.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/consolidate.h"
#include "crossover/cli/app.h"

namespace crossover::cli {

void add_checkpoint_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("checkpoint", "Work with checkpoints");
  cmd->require_subcommand(1);
  struct Options {
    std::string run_dir, out;
    int64_t step = -1;
  };
  auto o = std::make_shared<Options>();
  auto* cons = cmd->add_subcommand(
      "consolidate",
      "Write one unsharded checkpoint (in a new run directory) from a checkpoint of any world size");
  cons->add_option("run_dir", o->run_dir, "run directory")->required();
  cons->add_option("--step", o->step, "checkpoint step (default: latest)");
  cons->add_option("--out", o->out, "new run directory to write")->required();
  cons->callback([o] { consolidate_checkpoint(o->run_dir, o->step, o->out); });

  auto* verify = cmd->add_subcommand(
      "verify", "Check that a checkpoint is complete: state.json and every file's checksum");
  verify->add_option("run_dir", o->run_dir, "run directory")->required();
  verify->add_option("--step", o->step, "checkpoint step (default: latest)");
  verify->callback([o] {
    const std::string dir = Checkpointer::find(o->run_dir, o->step);
    const auto state = Checkpointer::read_state(dir, Checkpointer::Verify::kAllFiles);
    std::printf("%s: complete, %zu files verified\n", dir.c_str(),
                state.contains("files") ? state["files"].size() : size_t{0});
  });
}

}  // namespace crossover::cli
