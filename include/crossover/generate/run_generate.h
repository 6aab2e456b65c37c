// `crossover generate RUN_DIR`: completions of text prompts from one checkpoint of a run, all
// prompts in one batch, decoded as the run's objective says (generate/complete.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "crossover/generate/request.h"

namespace crossover {

struct RunGenerateOptions {
  std::string run_dir;
  std::vector<std::string> prompts;  // prompt texts
  std::string prompt_file;  // "": none; else one prompt per non-empty line, after `prompts`
  int64_t step = -1;        // -1: the latest checkpoint
  std::string device;       // "": the run's hardware.device; else auto | cpu | cuda
  int threads = -1;         // CPU threads; -1: the run's hardware.threads (0 = all cores)
  int64_t max_new = 64;     // left to right: at most (stops at eos); unmasking: masked positions
  SamplingOptions sampling;
  uint64_t seed = 0;
  // Unmasking (mdm) runs only (generate/mdm.h).
  int64_t steps = 0, block_length = 32;
  std::string remasking = "low-confidence", cache = "none";
  double threshold = 0;
  // The unmasking options the user set: each is reported, and ignored, on a left-to-right run.
  std::vector<std::string> unmasking_options_set;
};

struct GeneratedText {
  int64_t prompt_tokens = 0, new_tokens = 0;
  std::string note;  // why it ended
  std::string text;  // prompt and completion, decoded together
};

struct RunGenerateResult {
  std::vector<GeneratedText> completions;  // one per prompt, in order
  double seconds = 0;                      // the decoding's
  int64_t forward_calls = 0;
  int threads = 0;
};

// Loads the checkpoint, logs what it decodes with, and completes every prompt.
RunGenerateResult generate_run(const RunGenerateOptions& options);

// What `crossover generate` prints: per prompt a header line and the decoded text.
std::string format_completions(const RunGenerateResult& result);

}  // namespace crossover
