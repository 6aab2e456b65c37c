// crossover train CONFIG|RUN_DIR [--set key=value ...] [--run-dir DIR] [--threads N]
#include <CLI/CLI.hpp>

#include <filesystem>

#include "crossover/cli/app.h"
#include "crossover/comm/launch.h"
#include "crossover/config/config.h"
#include "crossover/train/trainer.h"

namespace crossover::cli {

namespace fs = std::filesystem;

void add_train_command(CLI::App& app) {
  struct Options {
    std::string config, run_dir;
    std::vector<std::string> sets;
    int threads = -1;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = app.add_subcommand(
      "train",
      "Train until the total-token budget; resumes from RUN_DIR/checkpoints/latest when present. "
      "SIGINT/SIGTERM checkpoint and stop (exit 130/143).");
  cmd->add_option("config", o->config,
                  "run config (YAML), or an existing run directory to resume with its config.yaml")
      ->required();
  cmd->add_option("--set", o->sets, "override a config key, e.g. --set optimizer.lr=3e-4");
  cmd->add_option("--run-dir", o->run_dir, "run directory (default: runs/<config name>)");
  cmd->add_option("--threads", o->threads,
                  "CPU threads (default: hardware.threads, 0 = all cores)");
  cmd->callback([o] {
    std::string config_path = o->config, run_dir = o->run_dir;
    if (fs::is_directory(config_path)) {
      if (run_dir.empty()) run_dir = config_path;
      config_path = (fs::path(config_path) / "config.yaml").string();
    }
    if (run_dir.empty()) run_dir = (fs::path("runs") / fs::path(config_path).stem()).string();
    std::vector<std::string> sets = o->sets;
    if (o->threads >= 0) sets.push_back("hardware.threads=" + std::to_string(o->threads));
    const RunConfig config = load_config(config_path, sets);
    const LaunchedProcess process = launch_process(config);
    const TrainResult r = train(config, run_dir, *process.comm, process.device);
    process.comm->barrier();  // no rank leaves while another still needs it
    set_exit_code(r.exit_code);
  });
}

}  // namespace crossover::cli
