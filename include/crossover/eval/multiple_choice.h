// Multiple-choice evaluation: the negative log-likelihood of each option given the context,
// and the accuracy of picking the most likely one.
//
//   ar and mdm score options as objective/scoring.h describes (the objective decides which).
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

#include "crossover/comm/comm.h"
#include "crossover/data/tokenizer.h"
#include "crossover/eval/tasks.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/objective.h"

namespace crossover {

// Context and options are encoded separately and concatenated, so every option continues the
// same context tokens. An empty context becomes [eos] (the token that precedes every training
// document), so the first option token is predicted from something. When context + option
// exceeds max_len, the context keeps its last tokens; an option that cannot fit after one
// context token is an error naming `where`.
TokenizedExample tokenize_example(const Tokenizer& tokenizer, const McExample& example,
                                  int64_t max_len, const std::string& where);

struct McMetrics {
  int64_t examples = 0;
  double acc = 0, acc_norm = 0, nll_right = 0, nll_wrong = 0, delta_nll = 0;
  // Per example, in task order (every rank gets all of them): the option of lowest NLL, and of
  // lowest NLL per character; paired tests between two models compare these with the labels.
  std::vector<int64_t> predicted, predicted_norm;
  nlohmann::json to_json() const;  // the metrics.jsonl task schema
  std::string summary() const;     // one line for logs
};

// Scores `examples` (split across the ranks of comm, sums all-reduced; every rank gets the
// metrics). Example i is keyed by i, so results do not depend on the world size.
McMetrics evaluate_multiple_choice(const Transformer& model, const std::vector<at::Tensor>& flats,
                                   const Objective& objective,
                                   const std::vector<TokenizedExample>& examples,
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
                                                          const Objective& objective,
                                                          const ScoreOptions& options,
                                                          Comm& comm) const;

 private:
  std::vector<Task> tasks_;
};

// {name: metrics} for the `tasks` field of an eval event.
nlohmann::json tasks_json(const std::vector<std::pair<std::string, McMetrics>>& results);

}  // namespace crossover
