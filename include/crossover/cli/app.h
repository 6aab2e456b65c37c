// The `crossover` command line: `crossover COMMAND [options]`. Each command lives in its own
// src/cli/cmd_*.cpp and registers itself here; main() only calls run().
#pragma once

namespace CLI {
class App;
}

namespace crossover::cli {

// Parses argv and runs the command. Returns the process exit code: 0 on success, 1 when the
// command failed, 2 for a usage error (unknown command or option, bad value).
int run(int argc, char** argv);

// A command that succeeded but must exit non-zero (e.g. training stopped by a signal: 128 + n).
void set_exit_code(int code);

// Command registration, one function per src/cli/cmd_*.cpp.
void add_config_command(CLI::App& app);
void add_prepare_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_bench_kernels_command(CLI::App& bench);   // `bench kernels`, from add_bench_command
void add_bench_generate_command(CLI::App& bench);  // `bench generate`, from add_bench_command
void add_train_command(CLI::App& app);
void add_checkpoint_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_score_command(CLI::App& app);  // `score`: lm_eval's log-likelihoods
void add_make_cloze_command(CLI::App& app);
void add_generate_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_export_command(CLI::App& app);  // `export hf`
void add_import_command(CLI::App& app);  // `import hf`

}  // namespace crossover::cli
