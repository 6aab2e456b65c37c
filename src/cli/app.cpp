#include "crossover/cli/app.h"

#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#include <string>

#include <torch/version.h>

#include "crossover/comm/launch.h"
#include "crossover/util/log.h"
#include "crossover/version.h"

namespace crossover::cli {

namespace {
int g_exit_code = 0;

// Usage errors are one line and exit 2, so scripts can tell them from failed runs.
int usage_error(const std::string& message) {
  std::fprintf(stderr, "crossover: %s (see crossover --help)\n", message.c_str());
  return 2;
}
// What the build links against: the GPU bundle's check compares the NCCL headers with the NCCL
// of the PyTorch on the machine it runs on.
std::string version_line() {
  std::string line = std::string("crossover ") + kVersion + " (LibTorch " + TORCH_VERSION;
#ifdef CROSSOVER_WITH_CUDA
  line += ", CUDA kernels";
#endif
  const std::string nccl = nccl_header_version();
  if (!nccl.empty()) line += ", NCCL headers " + nccl;
  return line + ")";
}
}  // namespace

void set_exit_code(int code) { g_exit_code = code; }

int run(int argc, char** argv) {
  log::init();
  CLI::App app{
      "crossover: train one transformer as an autoregressive LM or as a masked diffusion LM "
      "under a fixed token budget, and find where diffusion overtakes autoregression.",
      "crossover"};
  app.set_version_flag("--version", version_line());
  app.require_subcommand(1);
  app.fallthrough(false);
  add_config_command(app);
  add_prepare_command(app);
  add_bench_command(app);
  add_train_command(app);
  add_checkpoint_command(app);
  add_eval_command(app);
  add_score_command(app);
  add_make_cloze_command(app);
  add_generate_command(app);
  add_sweep_command(app);
  add_export_command(app);
  add_import_command(app);

  if (argc >= 2 && argv[1][0] != '-') {
    bool known = false;
    for (const auto* sub : app.get_subcommands({})) known |= sub->get_name() == argv[1];
    if (!known) return usage_error(std::string("unknown command '") + argv[1] + "'");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return usage_error(e.what());
  } catch (const PeerLostError& e) {
    // Another rank is gone: one line, and a status of its own so that launchers restart.
    spdlog::error("{}", e.what());
    return kPeerLostExitCode;
  } catch (const std::exception& e) {
    // Commands run from parse callbacks; their failures are errors, not usage errors.
    spdlog::error("{}", e.what());
    return 1;
  }
  return g_exit_code;
}

}  // namespace crossover::cli
