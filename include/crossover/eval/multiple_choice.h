// Multiple-choice evaluation: the negative log-likelihood of each option given the context,
// and the accuracy of picking the most likely one.
//
//   ar:  exact. NLL(option) = sum over its tokens of -log p(token | context, earlier option
//        tokens). The options of an example share one forward, right-padded: under the causal
//        mask no real position sees the padding.
//   mdm: LLaDA's estimator. The sequence is [context][option] with L option tokens; a sample
//        masks exactly l of them (the context never), and (L / l) x the cross-entropy summed
//        over the masked tokens estimates the NLL:  NLL ~ E_l E_{|S| = l} [(L / l) sum_{i in S}
//        -log p(x_i | x with S masked)], l ~ U{1..L}, S uniform among l-subsets. This is the
//        masked-diffusion ELBO of the option (an upper bound on its NLL), rewritten over the
//        number of masked tokens rather than over t. l is stratified: sample k of K uses
//        l = 1 + floor((k + v) L / K) with one uniform offset v in [0, 1), one l from each of K
//        equal strata (every l equally often when K is a multiple of L; unbiased for any K).
//        Options of equal length are scored on the same masks (common random numbers): a
//        comparison between options then sees little of the estimator's noise, which at a
//        few samples would otherwise swamp it. L == 1 has a single mask and is computed
//        exactly with one row. Masks come from a fixed seed keyed by (example, option length,
//        sample): evaluations are reproducible and compare across checkpoints without
//        sampling noise between them. The model has no attention mask and attends to
//        every position, so padding would change the result: the K samples of an option are one
//        batch of equal-length rows, and the options of an example share a forward exactly when
//        their lengths match (one forward per distinct option length otherwise).
//
// Metrics over a task: acc (lowest NLL is the label), acc_norm (lowest NLL per character of the
// option text), nll_right (mean NLL of the right option), nll_wrong (mean over examples of the
// mean NLL of the wrong options) and delta_nll = nll_wrong - nll_right, all NLLs in nats per
// option (summed over its tokens). delta_nll can keep growing, with accuracy, while nll_right
// rises: the model becomes more confident overall yet separates right from wrong better.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/data/tokenizer.h"
#include "crossover/dist/comm.h"
#include "crossover/eval/tasks.h"
#include "crossover/model/transformer.h"

namespace crossover {

// The seed of the estimator's masks; fixed so every evaluation scores the same corruptions.
inline constexpr uint64_t kTaskSeed = 0x7461736b73ull;

// An example as token ids.
struct TokenizedExample {
  std::vector<int64_t> context;               // never empty
  std::vector<std::vector<int64_t>> options;  // each non-empty
  std::vector<double> option_chars;           // length of each option text, for acc_norm
  int64_t label = 0;
};

// Context and options are encoded separately and concatenated, so every option continues the
// same context tokens. An empty context becomes [eos] (the token that precedes every training
// document), so the first option token is predicted from something. When context + option
// exceeds max_len, the context keeps its last tokens; an option that cannot fit after one
// context token is an error naming `where`.
TokenizedExample tokenize_example(const Tokenizer& tokenizer, const McExample& example,
                                  int64_t max_len, const std::string& where);

struct ScoreOptions {
  int64_t samples = 128;                     // mdm estimator samples per option with L > 1
  uint64_t seed = kTaskSeed;
  int64_t max_batch_tokens = int64_t{1} << 16;  // a forward larger than this is split by rows
};

struct OptionNll {
  double nll = 0;  // nats, summed over the option's tokens
  double se = 0;   // Monte-Carlo standard error (0 when exact)
};

// The masked positions (indices into the option) of the K samples of one option: sample k
// masks exactly 1 + floor((k + v) L / K) of them, v and the subsets drawn from `key`.
std::vector<std::vector<int64_t>> estimator_masks(int64_t L, int64_t K, uint64_t key);

// NLL of every option of `example`. `example_key` identifies the example (e.g. its index in
// the task) and keys the mdm masks; ar ignores it.
std::vector<OptionNll> ar_option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                     const TokenizedExample& example, const ScoreOptions& options);
std::vector<OptionNll> mdm_option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                      const TokenizedExample& example, uint64_t example_key,
                                      const ScoreOptions& options);
std::vector<OptionNll> option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                  bool causal, const TokenizedExample& example,
                                  uint64_t example_key, const ScoreOptions& options);

struct McMetrics {
  int64_t examples = 0;
  double acc = 0, acc_norm = 0, nll_right = 0, nll_wrong = 0, delta_nll = 0;
  nlohmann::json to_json() const;  // the metrics.jsonl task schema
  std::string summary() const;     // one line for logs
};

// Scores `examples` (split across the ranks of comm, sums all-reduced; every rank gets the
// metrics). Example i is keyed by i, so results do not depend on the world size.
McMetrics evaluate_multiple_choice(const Transformer& model, const std::vector<at::Tensor>& flats,
                                   bool causal, const std::vector<TokenizedExample>& examples,
                                   const ScoreOptions& options, Comm& comm);

// Task files read and tokenised once (training evaluates them at every evaluation).
class TaskSuite {
 public:
  struct Task {
    std::string name;
    std::vector<TokenizedExample> examples;
  };
  TaskSuite() = default;
  // Loads DATA_DIR/tokenizer.model only when there are tasks. Task names (file stems) must be
  // distinct; max_examples > 0 caps each task.
  static TaskSuite load(const std::vector<std::string>& paths, int64_t max_examples,
                        const std::string& tokenizer_path, int64_t max_len);
  TaskSuite(const std::vector<McTask>& tasks, const Tokenizer& tokenizer, int64_t max_len);

  bool empty() const { return tasks_.empty(); }
  const std::vector<Task>& tasks() const { return tasks_; }
  std::vector<std::pair<std::string, McMetrics>> evaluate(const Transformer& model,
                                                          const std::vector<at::Tensor>& flats,
                                                          bool causal, const ScoreOptions& options,
                                                          Comm& comm) const;

 private:
  std::vector<Task> tasks_;
};

// {name: metrics} for the `tasks` field of an eval event.
nlohmann::json tasks_json(const std::vector<std::pair<std::string, McMetrics>>& results);

}  // namespace crossover
