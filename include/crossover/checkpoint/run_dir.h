// A run directory, its layout in one place:
//   RUN_DIR/config.yaml        the resolved config (`crossover train RUN_DIR` resumes from it)
//   RUN_DIR/metrics.jsonl      every event (README "Run directories, logging and metrics")
//   RUN_DIR/eval_detail.jsonl  per evaluation: every validation window's loss and every task
//                              example's prediction (eval/eval_detail.h)
//   RUN_DIR/tensorboard/       the same scalars as TensorBoard event files
//   RUN_DIR/train.log          the console, appended
//   RUN_DIR/.lock              held by the one trainer of the directory (util/run_lock.h)
//   RUN_DIR/data/              tokenizer.model and meta.json of the data it trained on
//   RUN_DIR/checkpoints/       step_NNNNNNNN/ and `latest` (checkpoint/checkpointer.h)
//   RUN_DIR/eval/              `crossover eval` reports
#pragma once

#include <string>

#include "crossover/config/config.h"
#include "crossover/data/data_dir.h"

namespace crossover {

struct RunDir {
  std::string root;

  std::string config() const { return root + "/config.yaml"; }
  std::string metrics() const { return root + "/metrics.jsonl"; }
  std::string eval_detail() const { return root + "/eval_detail.jsonl"; }
  std::string tensorboard() const { return root + "/tensorboard"; }
  std::string train_log() const { return root + "/train.log"; }
  std::string eval() const { return root + "/eval"; }
  // The run's copy of its data description and tokenizer.
  DataDir data() const { return DataDir{root + "/data"}; }
  // That copy when the run has it, else `data_path` (the config's data.path): runs written
  // before the copy existed still load.
  DataDir data_or(const std::string& data_path) const;
  // Copies tokenizer.model and meta.json from `from` into data(), replacing older copies.
  void copy_data_description(const DataDir& from) const;
  // What makes the directory `config`'s run besides its checkpoints: config.yaml (written
  // atomically) and data/ (copied from config.data.path). The trainer writes them when a run
  // starts or resumes, `import hf` beside its step-0 checkpoint.
  void write_run_files(const RunConfig& config) const;
};

}  // namespace crossover
