// crossover checkpoint consolidate RUN_DIR [--step N] --out DIR
// Turns a checkpoint of any format and world size into one unsharded checkpoint inside a new run
// directory (config, tokenizer, metrics history up to the step, checkpoints/step_N, latest), so
// `crossover train DIR` resumes it in one process and Python reads model.safetensors directly.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "crossover/cli/app.h"
#include "crossover/dist/comm.h"
#include "crossover/dist/sharding.h"
#include "crossover/model/transformer.h"
#include "crossover/train/checkpoint.h"
#include "crossover/util/fs.h"
#include "crossover/util/metrics.h"

namespace crossover::cli {

namespace fs = std::filesystem;

namespace {

void consolidate(const std::string& run_dir, int64_t step, const std::string& out) {
  const std::string src = Checkpointer::find(run_dir, step);
  nlohmann::json state = Checkpointer::read_state(src);
  const RunConfig config = parse_config(state.at("config").get<std::string>(), src + "/state.json");
  if (fs::exists(out) && !fs::is_empty(out))
    throw std::runtime_error(out + ": exists and is not empty; give a new directory");
  fs::create_directories(out);
  const auto meta = nlohmann::json::parse(read_text_file(run_dir + "/data/meta.json"));
  const Transformer model(config.model, meta.at("vocab_size").get<int64_t>(), config.data.seq_len,
                          config.optimizer);
  std::vector<at::Tensor> p, m, v;
  for (size_t g = 0; g < model.layout().groups.size(); ++g) {
    const int64_t n = model.layout().groups[g].numel;
    p.push_back(read_checkpoint_range(src, state, model.layout(), g, "param", 0, n));
    m.push_back(read_checkpoint_range(src, state, model.layout(), g, "exp_avg", 0, n));
    v.push_back(read_checkpoint_range(src, state, model.layout(), g, "exp_avg_sq", 0, n));
  }
  const int64_t at_step = state.at("step").get<int64_t>();
  auto comm = make_local_comm();
  Checkpointer ckpt(out, 1, *comm);
  state["checkpoint_format"] = {{"kind", "full"}};
  state["consolidated_from"] = {{"path", src}, {"world_size", state.value("world_size", 1)}};
  state.erase("files");
  const std::string dir = ckpt.save(at_step, state, [&](const std::string& d) {
    return write_full_checkpoint(d, model.layout(), p, m, v);
  });
  // The rest of a run directory: config, tokenizer and data description, metrics to this step.
  fs::copy_file(run_dir + "/config.yaml", out + "/config.yaml");
  fs::create_directories(out + "/data");
  for (const char* f : {"tokenizer.model", "meta.json"})
    fs::copy_file(run_dir + "/data/" + f, out + "/data/" + f);
  if (fs::exists(run_dir + "/metrics.jsonl")) {
    fs::copy_file(run_dir + "/metrics.jsonl", out + "/metrics.jsonl");
    MetricsWriter trim(out + "/metrics.jsonl", at_step);  // drops events after the step
  }
  spdlog::info("consolidated {} (step {}) into {}", src, at_step, dir);
}

}  // namespace

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
  cons->callback([o] { consolidate(o->run_dir, o->step, o->out); });
}

}  // namespace crossover::cli
