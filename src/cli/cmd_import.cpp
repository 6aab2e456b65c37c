// crossover import hf DIR --config RUN.yaml --run-dir RUN_DIR [--set key=value ...]
// Starts a run from a Llama- or Qwen3-style Hugging Face checkpoint (include/crossover/hf/import.h).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "crossover/cli/app.h"
#include "crossover/config/config.h"
#include "crossover/hf/import.h"

namespace crossover::cli {

void add_import_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("import", "Start a run from another ecosystem's checkpoint");
  cmd->require_subcommand(1);
  struct Options {
    std::string config;
    std::vector<std::string> sets;
    hf::ImportOptions import_options;
  };
  auto o = std::make_shared<Options>();
  auto* hf_cmd = cmd->add_subcommand(
      "hf", "Write a step-0 checkpoint into a new run directory from a Llama or Qwen3 safetensors "
            "checkpoint (single or sharded), checked against the run config; `crossover train "
            "RUN_DIR` then continues it, as AR or as MDM");
  hf_cmd->add_option("dir", o->import_options.hf_dir, "Hugging Face model directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  hf_cmd->add_option("--config", o->config, "run config (YAML) describing the model and the data")
      ->required()
      ->check(CLI::ExistingFile);
  hf_cmd->add_option("--set", o->sets, "override a config key, e.g. --set objective.type=mdm");
  hf_cmd->add_option("--run-dir", o->import_options.run_dir, "new run directory")->required();
  hf_cmd
      ->add_option("--mask-row", o->import_options.mask_row,
                   "[MASK]'s embedding row: auto (the checkpoint's own when its config.json "
                   "names mask_token_id, else the mean of the embedding rows) or mean")
      ->check(CLI::IsMember({"auto", "mean"}));
  hf_cmd->callback([o] {
    const RunConfig config = load_config(o->config, o->sets);
    hf::ImportOptions io = o->import_options;
    io.config_source = o->config;
    const auto r = hf::import_hf(config, io);
    std::printf("imported %s (%s) into %s; [MASK] row: %s\n", io.hf_dir.c_str(),
                r.model_type.c_str(), r.checkpoint_dir.c_str(), r.mask_row.c_str());
    std::printf("continue with: crossover train %s\n", io.run_dir.c_str());
    std::fflush(stdout);
  });
}

}  // namespace crossover::cli
