// `crossover score RUN_DIR`: log-likelihoods of continuations for outside harnesses
// (lm-evaluation-harness through python/crossover_lm), computed by the very estimator and mask
// seeds of `crossover eval` so that both give the same numbers.
//
// Requests are JSON lines, answered one line each, in order:
//   {"context": TEXT, "continuation": TEXT, "key": K}   scored as a multiple-choice option is:
//       tokenised as `crossover eval` tokenises a task example (eval/multiple_choice.h)
//   {"context_ids": [...], "continuation_ids": [...], "key": K}   the ids as given
//   {"rolling": TEXT, "key": K}   the whole text's NLL: [eos] + its tokens cut into windows of
//       data.seq_len tokens whose first token is context only and whose scored parts are disjoint
//       (window w starts at token w (seq_len - 1)), each scored as a continuation of that one
//       token; the NLLs and variances are summed. For mdm every term is an ELBO, so the sum is an
//       upper bound on the NLL.
// "key" (default: the line's index) keys the mdm masks as the example index does in `crossover
// eval`: a task's example i sent with key i gets eval's masks. Consecutive continuation requests
// with the same key and the same context form one example, scored together as eval scores the
// options of one example (its context cut to fit the longest of them).
// Answers: {"nll": nats summed over the continuation, "se": Monte-Carlo standard error (0 when
// exact), "tokens": continuation tokens, "context_tokens": context tokens used} (+ "windows" for
// rolling requests).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace crossover {

struct ScoreRequestsOptions {
  std::string run_dir;
  std::string requests;  // JSONL file, "-": standard input
  std::string out;       // JSONL file, "-": standard output
  int64_t step = -1;     // -1: the latest checkpoint
  int64_t samples = 0;   // mdm estimator samples per continuation; 0: the run's eval.task_samples
  std::string device;    // "": the run's hardware.device; else auto | cpu | cuda
  int threads = -1;      // CPU threads; -1: the run's hardware.threads (0 = all cores)
};

// Parses the requests, scores them and returns one answer per request, in order. Errors name the
// requests file and line.
std::vector<nlohmann::json> score_requests(const ScoreRequestsOptions& options);

// Scores and writes the answers to options.out (atomically for a file).
void score_requests_to_file(const ScoreRequestsOptions& options);

}  // namespace crossover
