// crossover bench generate AR_RUN MDM_RUN: serving latency and throughput of AR decoding (KV
// cache) against diffusion decoding at several steps / block / threshold / cache settings.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "crossover/bench/generate_bench.h"
#include "crossover/cli/app.h"
#include "crossover/util/threads.h"

namespace crossover::cli {

namespace {

std::vector<int64_t> parse_batches(const std::string& list) {
  std::vector<int64_t> out;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    size_t used = 0;
    int64_t b = 0;
    try {
      b = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || b < 1)
      throw std::invalid_argument("--batch: expected positive integers separated by commas, got '" +
                                  list + "'");
    out.push_back(b);
  }
  if (out.empty()) throw std::invalid_argument("--batch: empty list");
  return out;
}

}  // namespace

void add_bench_generate_command(CLI::App& bench) {
  struct Options {
    GenerateBenchOptions bench;
    std::string batches = "1,8,32", json;
    std::vector<std::string> mdm;
    int threads = 0;
  };
  auto o = std::make_shared<Options>();
  auto* cmd = bench.add_subcommand(
      "generate",
      "Per-sequence latency and tokens/s of AR (KV cache) and MDM generation at several steps / "
      "block / threshold / cache settings and batch sizes; prompts are the starts of validation "
      "documents");
  cmd->add_option("ar_run", o->bench.ar_run, "run directory of an ar run")->required();
  cmd->add_option("mdm_run", o->bench.mdm_run, "run directory of an mdm run")->required();
  cmd->add_option("--len", o->bench.len,
                  "tokens generated per sequence (capped at the runs' data.seq_len minus "
                  "--prompt-len)")
      ->capture_default_str();
  cmd->add_option("--batch", o->batches, "batch sizes, comma-separated")->capture_default_str();
  cmd->add_option("--prompt-len", o->bench.prompt_len, "prompt tokens per sequence")
      ->capture_default_str();
  cmd->add_option("--mdm", o->mdm,
                  "an MDM setting, e.g. steps=56,block=32,cache=prefix or threshold=0.9,block=32 "
                  "(repeatable; default: a grid over steps, threshold and cache)");
  cmd->add_option("--temperature", o->bench.sampling.temperature, "0: greedy")
      ->capture_default_str();
  cmd->add_option("--seed", o->bench.seed, "noise seed");
  cmd->add_option("--repeat", o->bench.repeat, "timings per entry; the fastest is reported")
      ->capture_default_str();
  cmd->add_flag("--ar-no-cache", o->bench.ar_no_cache,
                "also time AR without its KV cache (re-running the prefix for every token)");
  cmd->add_option("--step", o->bench.step, "checkpoint step of both runs (default: the latest)");
  cmd->add_option("--device", o->bench.device, "auto, cpu or cuda (default: each run's)");
  cmd->add_option("--threads", o->threads, "CPU threads (0: all available cores)")
      ->capture_default_str();
  cmd->add_option("--json", o->json, "write the JSON results to this file (default: print them)");
  cmd->callback([o] {
    GenerateBenchOptions b = o->bench;
    b.batches = parse_batches(o->batches);
    for (const auto& spec : o->mdm) b.mdm.push_back(parse_bench_setting(spec));
    configure_threads(o->threads);
    std::printf("%s\n", bench_table_header().c_str());
    std::fflush(stdout);
    const nlohmann::json r = bench_generate(b, [](const nlohmann::json& row) {
      std::printf("%s\n", format_bench_row(row).c_str());
      std::fflush(stdout);
    });
    const auto& meta = r["meta"];
    if (meta.contains("note")) std::printf("note: %s\n", meta["note"].get<std::string>().c_str());
    std::printf("device %s, %d threads, load average %.2f at start, %.2f at end\n",
                meta["device"].get<std::string>().c_str(), meta["threads"].get<int>(),
                meta["load_average_start"].get<double>(), meta["load_average_end"].get<double>());
    if (o->json.empty()) {
      std::printf("%s\n", r.dump().c_str());
    } else {
      std::ofstream out(o->json);
      out << r.dump(2) << "\n";
      if (!out) throw std::runtime_error("cannot write " + o->json);
      spdlog::info("wrote {}", o->json);
    }
  });
}

}  // namespace crossover::cli
