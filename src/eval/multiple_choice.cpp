#include "crossover/eval/multiple_choice.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "crossover/util/random.h"

namespace crossover {

namespace {

// SentencePiece models trained with a dummy prefix (the default, and what `prepare` trains)
// encode "x" as if it were " x", so encoding " God" alone gives [▁, ▁God] where running text
// has [▁God]. A lone "▁" first piece before a text's leading space is that artefact: the space
// is handed to the dummy prefix instead. Without a dummy prefix " God" encodes as [▁God] and
// nothing changes.
std::vector<int32_t> encode_continuation(const Tokenizer& tokenizer, const std::string& text) {
  std::vector<int32_t> ids = tokenizer.encode(text);
  if (ids.size() > 1 && text.size() > 1 && text[0] == ' ' &&
      tokenizer.piece(ids[0]) == "\xE2\x96\x81")
    ids = tokenizer.encode(text.substr(1));
  return ids;
}

// Characters (UTF-8 code points) of an option, the acc_norm denominator.
double characters(const std::string& s) {
  double n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return std::max(n, 1.0);
}

}  // namespace

TokenizedExample tokenize_example(const Tokenizer& tokenizer, const McExample& example,
                                  int64_t max_len, const std::string& where) {
  TokenizedExample t;
  for (const int32_t id : tokenizer.encode(example.context)) t.context.push_back(id);
  if (t.context.empty()) t.context.push_back(tokenizer.special().eos);
  int64_t longest = 0;
  for (size_t j = 0; j < example.options.size(); ++j) {
    const auto ids = encode_continuation(tokenizer, example.options[j]);
    if (ids.empty())
      throw std::runtime_error(where + ": option " + std::to_string(j) + " encodes to no tokens");
    t.options.emplace_back(ids.begin(), ids.end());
    t.option_chars.push_back(characters(example.options[j]));
    longest = std::max<int64_t>(longest, static_cast<int64_t>(ids.size()));
  }
  if (longest + 1 > max_len)
    throw std::runtime_error(where + ": an option of " + std::to_string(longest) +
                             " tokens does not fit the model's " + std::to_string(max_len) +
                             "-token sequences with any context");
  const int64_t room = max_len - longest;
  if (static_cast<int64_t>(t.context.size()) > room)
    t.context.erase(t.context.begin(), t.context.end() - room);
  t.label = example.label;
  return t;
}

nlohmann::json McMetrics::to_json() const {
  return {{"acc", acc},
          {"acc_norm", acc_norm},
          {"nll_right", nll_right},
          {"nll_wrong", nll_wrong},
          {"delta_nll", delta_nll},
          {"examples", examples}};
}

std::string McMetrics::summary() const {
  return fmt::format(
      "acc {:.4f}, acc_norm {:.4f}, nll right {:.3f} / wrong {:.3f} (delta {:+.3f}), "
      "{} examples",
      acc, acc_norm, nll_right, nll_wrong, delta_nll, examples);
}

McMetrics evaluate_multiple_choice(const Transformer& model, const std::vector<at::Tensor>& flats,
                                   const Objective& objective,
                                   const std::vector<TokenizedExample>& examples,
                                   const ScoreOptions& options, Comm& comm) {
  double correct = 0, correct_norm = 0, right = 0, wrong = 0;
  const int64_t N = static_cast<int64_t>(examples.size());
  // This rank's predictions, zero elsewhere, summed over ranks: [best..., best_norm...].
  std::vector<double> predictions(2 * N, 0.0);
  for (int64_t i = comm.rank(); i < N; i += comm.world_size()) {
    const auto& ex = examples[i];
    const auto nll = objective.option_nll(model, flats, ex, static_cast<uint64_t>(i), options);
    size_t best = 0, best_norm = 0;
    double others = 0;
    for (size_t j = 0; j < nll.size(); ++j) {
      if (nll[j].nll < nll[best].nll) best = j;
      if (nll[j].nll / ex.option_chars[j] < nll[best_norm].nll / ex.option_chars[best_norm])
        best_norm = j;
      if (static_cast<int64_t>(j) != ex.label) others += nll[j].nll;
    }
    predictions[i] = static_cast<double>(best);
    predictions[N + i] = static_cast<double>(best_norm);
    correct += static_cast<int64_t>(best) == ex.label;
    correct_norm += static_cast<int64_t>(best_norm) == ex.label;
    right += nll[ex.label].nll;
    wrong += others / static_cast<double>(nll.size() - 1);
  }
  McMetrics m;
  m.examples = N;
  if (N == 0) return m;
  predictions.insert(predictions.end(), {correct, correct_norm, right, wrong});
  const auto all = comm.world_size() > 1 ? comm.all_reduce_sum(predictions) : predictions;
  m.predicted.resize(N);
  m.predicted_norm.resize(N);
  for (int64_t i = 0; i < N; ++i) {
    m.predicted[i] = static_cast<int64_t>(all[i]);
    m.predicted_norm[i] = static_cast<int64_t>(all[N + i]);
  }
  const double* sums = all.data() + 2 * N;
  m.acc = sums[0] / N;
  m.acc_norm = sums[1] / N;
  m.nll_right = sums[2] / N;
  m.nll_wrong = sums[3] / N;
  m.delta_nll = m.nll_wrong - m.nll_right;
  return m;
}

TaskSuite::TaskSuite(const std::vector<McTask>& tasks, const Tokenizer& tokenizer,
                     int64_t max_len) {
  std::set<std::string> names;
  for (const auto& task : tasks) {
    if (!names.insert(task.name).second)
      throw std::runtime_error(task.path + ": another task is also named '" + task.name +
                               "' (task names are file stems and must be distinct)");
    Task t;
    t.name = task.name;
    for (size_t i = 0; i < task.examples.size(); ++i)
      t.examples.push_back(tokenize_example(tokenizer, task.examples[i], max_len,
                                            task.path + " example " + std::to_string(i + 1)));
    tasks_.push_back(std::move(t));
  }
}

TaskSuite TaskSuite::load(const std::vector<std::string>& paths, int64_t max_examples,
                          const std::string& tokenizer_path, int64_t max_len) {
  if (paths.empty()) return {};
  std::vector<McTask> tasks;
  for (const auto& p : paths) tasks.push_back(read_task(p, max_examples));
  const Tokenizer tokenizer = Tokenizer::load(tokenizer_path);
  return TaskSuite(tasks, tokenizer, max_len);
}

std::vector<std::pair<std::string, McMetrics>> TaskSuite::evaluate(
    const Transformer& model, const std::vector<at::Tensor>& flats, const Objective& objective,
    const ScoreOptions& options, Comm& comm) const {
  std::vector<std::pair<std::string, McMetrics>> results;
  for (const auto& task : tasks_)
    results.emplace_back(
        task.name, evaluate_multiple_choice(model, flats, objective, task.examples, options, comm));
  return results;
}

nlohmann::json tasks_json(const std::vector<std::pair<std::string, McMetrics>>& results) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, m] : results) j[name] = m.to_json();
  return j;
}

}  // namespace crossover
