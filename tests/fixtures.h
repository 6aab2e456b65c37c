// Shared test fixtures: a small prepared data directory and small run configs.
#pragma once

#include <string>

#include "crossover/config/config.h"
#include "crossover/data/prepare.h"
#include "test_util.h"

namespace crossover::testing {

// Writes a corpus of `docs` short documents with a repetitive vocabulary (learnable by a tiny
// model) and prepares it into dir/data with a `vocab`-piece tokenizer. Returns the data dir.
inline std::string make_data(const TempDir& dir, int docs = 200, int vocab = 320) {
  static const char* words[] = {"the",  "lord", "said", "unto",  "moses", "and",  "his",   "people",
                                "went", "out",  "of",   "egypt", "into",  "land", "light", "water"};
  std::string text;
  for (int i = 0; i < docs; ++i) {
    for (int j = 0; j < 30; ++j) text += std::string(words[(i * 3 + j * j) % 16]) + " ";
    text += "amen " + std::to_string(i % 10) + ".\n";
  }
  write_file(dir / "corpus.txt", text);
  PrepareOptions o;
  o.inputs = {dir / "corpus.txt"};
  o.out_dir = dir / "data";
  o.vocab_size = vocab;
  o.val_docs = 20;
  prepare_corpus(o);
  return dir / "data";
}

// A tiny model on that data: runs a step in a few milliseconds.
inline RunConfig tiny_config(const std::string& data_dir, const std::string& objective = "ar") {
  RunConfig c;
  c.model.layers = 2;
  c.model.d_model = 32;
  c.model.heads = 2;
  c.objective.type = *parse_choice<ObjectiveType>(objective);
  c.data.path = data_dir;
  c.data.seq_len = 32;
  c.data.total_tokens = TokenCount(40 * 8 * 32);  // 40 steps
  c.training.global_batch = 8;
  c.schedule.warmup_steps = 5;
  c.eval.every = 20;
  c.eval.val_sequences = 8;
  c.eval.mc_samples = 4;
  c.checkpoint.every = 10;
  c.checkpoint.keep_last = 10;
  c.logging.log_every = 1;
  c.hardware.threads = 1;
  c.hardware.peak_tflops = 1;  // skip the peak measurement
  return c;
}

}  // namespace crossover::testing
