// crossover config show FILE [--set key=value ...]: prints the resolved config as YAML.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "crossover/cli/app.h"
#include "crossover/config/config.h"

namespace crossover::cli {

void add_config_command(CLI::App& app) {
  auto* config = app.add_subcommand("config", "Inspect run configs");
  config->require_subcommand(1);
  auto* show = config->add_subcommand(
      "show", "Print the resolved config (defaults, file, overrides) as YAML with documentation");
  struct Options {
    std::string file;
    std::vector<std::string> sets;
    bool bare = false;
  };
  auto opts = std::make_shared<Options>();
  show->add_option("file", opts->file, "run config (YAML)")->required();
  show->add_option("--set", opts->sets, "override a key, e.g. --set optimizer.lr=3e-4")
      ->allow_extra_args(false);
  show->add_flag("--no-comments", opts->bare, "omit the documentation comments");
  show->callback([opts] {
    const RunConfig cfg = load_config(opts->file, opts->sets);
    std::fputs(dump_config(cfg, !opts->bare).c_str(), stdout);
  });
}

}  // namespace crossover::cli
