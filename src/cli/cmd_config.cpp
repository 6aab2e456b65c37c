// crossover config show FILE [--set key=value ...]: prints the resolved config as YAML.
// crossover config docs [--out FILE]: the configuration reference (docs/configuration.md).
// crossover config diff A B: the keys whose resolved values differ, and whether only objective.*
// does (an AR/MDM pair that is fair by construction).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "crossover/cli/app.h"
#include "crossover/config/config.h"
#include "crossover/util/fs.h"

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

  auto* docs = config->add_subcommand(
      "docs", "Print the configuration reference (Markdown: every key, its default, what it "
              "accepts and its documentation), as committed in docs/configuration.md");
  auto docs_out = std::make_shared<std::string>();
  docs->add_option("--out", *docs_out, "write it to this file instead");
  docs->callback([docs_out] {
    const std::string page = config_reference();
    if (docs_out->empty()) {
      std::fputs(page.c_str(), stdout);
      return;
    }
    atomic_write_file(*docs_out, page);
  });

  auto* diff = config->add_subcommand(
      "diff", "The keys whose resolved values differ between two run configs (defaults included)");
  struct DiffOptions {
    std::string a, b;
  };
  auto d = std::make_shared<DiffOptions>();
  diff->add_option("a", d->a, "run config (YAML)")->required();
  diff->add_option("b", d->b, "run config (YAML)")->required();
  diff->callback([d] {
    const RunConfig a = load_config(d->a), b = load_config(d->b);
    const auto keys = config_differences(a, b);
    bool only_objective = true;
    for (const auto& key : keys) {
      std::printf("%s: %s -> %s\n", key.c_str(), config_value(a, key).c_str(),
                  config_value(b, key).c_str());
      only_objective = only_objective && key.rfind("objective.", 0) == 0;
    }
    if (keys.empty()) std::printf("identical\n");
    else
      std::printf("%zu key(s) differ; %s\n", keys.size(),
                  only_objective ? "only objective.*: the model, data, optimizer and schedule "
                                   "are the same"
                                 : "not only objective.*");
  });
}

}  // namespace crossover::cli
