// crossover export hf RUN_DIR --out DIR [--step N] [--max-shard-size SIZE] [--dtype D]
// Writes a checkpoint as a Hugging Face model directory (include/crossover/hf/export.h).
#include <CLI/CLI.hpp>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "crossover/cli/app.h"
#include "crossover/hf/export.h"

namespace crossover::cli {

namespace {

// "5GB", "500MB", "2GiB", "1000000": transformers' max_shard_size spellings (KB/MB/GB are
// powers of 1000, KiB/MiB/GiB of 1024).
int64_t parse_size(const std::string& text) {
  size_t pos = 0;
  double value = 0;
  try {
    value = std::stod(text, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  std::string unit = text.substr(pos);
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  else if (unit == "KB") scale = 1e3;
  else if (unit == "MB") scale = 1e6;
  else if (unit == "GB") scale = 1e9;
  else if (unit == "KIB") scale = 1024.0;
  else if (unit == "MIB") scale = 1024.0 * 1024;
  else if (unit == "GIB") scale = 1024.0 * 1024 * 1024;
  if (pos == 0 || scale == 0 || !(value > 0) || !std::isfinite(value))
    throw CLI::ValidationError("--max-shard-size",
                               "expected a size such as 5GB, 500MB, 2GiB or a byte count, got " +
                                   text);
  return static_cast<int64_t>(value * scale);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a checkpoint to another ecosystem");
  cmd->require_subcommand(1);
  struct Options {
    std::string run_dir, max_shard = "5GB";
    hf::ExportOptions export_options;
  };
  auto o = std::make_shared<Options>();
  auto* hf_cmd = cmd->add_subcommand(
      "hf",
      "Write a checkpoint (full or sharded, any world size) as a Hugging Face model directory: "
      "Qwen3ForCausalLM (model.qk_norm) or LlamaForCausalLM, safetensors, config, tokenizer");
  hf_cmd->add_option("run_dir", o->run_dir, "run directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  hf_cmd->add_option("--out", o->export_options.out, "new directory to write")->required();
  hf_cmd->add_option("--step", o->export_options.step, "checkpoint step (default: the latest)");
  hf_cmd->add_option("--max-shard-size", o->max_shard,
                     "split the weights into shards of at most this size, with "
                     "model.safetensors.index.json (default 5GB, as save_pretrained)");
  hf_cmd->add_option("--dtype", o->export_options.dtype, "weights as float32 (default) or bfloat16")
      ->check(CLI::IsMember({"float32", "bfloat16"}));
  hf_cmd->callback([o] {
    hf::ExportOptions eo = o->export_options;
    eo.max_shard_bytes = parse_size(o->max_shard);
    const auto r = hf::export_hf(o->run_dir, eo);
    std::printf("exported step %lld of %s as %s to %s (%zu weight file%s, %.1f MB)\n",
                static_cast<long long>(r.step), o->run_dir.c_str(), r.architecture.c_str(),
                eo.out.c_str(), r.weight_files.size(), r.weight_files.size() == 1 ? "" : "s",
                r.weight_bytes / 1e6);
    std::fflush(stdout);
  });
}

}  // namespace crossover::cli
