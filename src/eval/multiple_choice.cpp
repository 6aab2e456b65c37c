#include "crossover/eval/multiple_choice.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include "crossover/model/loss_head.h"
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
  if (ids.size() > 1 && text.size() > 1 && text[0] == ' ' && tokenizer.piece(ids[0]) == "\xE2\x96\x81")
    ids = tokenizer.encode(text.substr(1));
  return ids;
}

// Characters (UTF-8 code points) of an option, the acc_norm denominator.
double characters(const std::string& s) {
  double n = 0;
  for (const char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return std::max(n, 1.0);
}

at::Tensor long_tensor(const std::vector<int64_t>& v) {
  return at::tensor(at::ArrayRef<int64_t>(v), at::kLong);
}

// Mean and standard error of a sample.
OptionNll summarise(const std::vector<double>& values) {
  OptionNll r;
  const double K = static_cast<double>(values.size());
  for (const double v : values) r.nll += v;
  r.nll /= K;
  if (values.size() > 1) {
    double ss = 0;
    for (const double v : values) ss += (v - r.nll) * (v - r.nll);
    r.se = std::sqrt(ss / (K - 1) / K);
  }
  return r;
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

std::vector<std::vector<int64_t>> estimator_masks(int64_t L, int64_t K, uint64_t key) {
  SplitMix64 offset(key);
  const double v = offset.uniform();
  std::vector<std::vector<int64_t>> masks;
  masks.reserve(K);
  std::vector<int64_t> perm(L);
  for (int64_t k = 0; k < K; ++k) {
    // Sample k draws l from the k-th of K equal strata of [0, L): uniform over {1..L} when k
    // is, and spread over the whole range whatever K (K < L included).
    const int64_t l = std::min<int64_t>(
        L, 1 + static_cast<int64_t>(std::floor((static_cast<double>(k) + v) * static_cast<double>(L) /
                                               static_cast<double>(K))));
    // A uniform l-subset: the first l entries of a partial Fisher-Yates shuffle.
    for (int64_t i = 0; i < L; ++i) perm[i] = i;
    SplitMix64 rng(hash_combine(key, static_cast<uint64_t>(k) + 1));
    for (int64_t i = 0; i < l; ++i)
      std::swap(perm[i], perm[i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(L - i)))]);
    std::vector<int64_t> s(perm.begin(), perm.begin() + l);
    std::sort(s.begin(), s.end());
    masks.push_back(std::move(s));
  }
  return masks;
}

std::vector<OptionNll> ar_option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                     const TokenizedExample& ex, const ScoreOptions& options) {
  c10::InferenceMode inference;
  const at::Device device = flats[0].device();
  const at::Tensor head = model.head_weight(flats[0]);
  const int64_t C = static_cast<int64_t>(ex.context.size());
  const size_t n = ex.options.size();
  std::vector<OptionNll> out(n);
  for (size_t j0 = 0; j0 < n;) {
    // As many options as fit max_batch_tokens (all of them, normally) share one forward.
    size_t j1 = j0;
    int64_t T = 0;
    while (j1 < n) {
      const int64_t t = std::max<int64_t>(T, C + static_cast<int64_t>(ex.options[j1].size()) - 1);
      if (j1 > j0 && static_cast<int64_t>(j1 - j0 + 1) * t > options.max_batch_tokens) break;
      T = t;
      ++j1;
    }
    const int64_t rows = static_cast<int64_t>(j1 - j0);
    // Right padding (id 0): causal attention keeps it out of every scored position.
    std::vector<int64_t> ids(rows * T, 0), where, targets, owner;
    for (int64_t r = 0; r < rows; ++r) {
      const auto& opt = ex.options[j0 + r];
      const int64_t L = static_cast<int64_t>(opt.size());
      std::copy(ex.context.begin(), ex.context.end(), ids.begin() + r * T);
      std::copy(opt.begin(), opt.end() - 1, ids.begin() + r * T + C);
      // Option token i is predicted at position C - 1 + i.
      for (int64_t i = 0; i < L; ++i) {
        where.push_back(r * T + C - 1 + i);
        targets.push_back(opt[i]);
        owner.push_back(r);
      }
    }
    const at::Tensor h = model.hidden(flats, long_tensor(ids).view({rows, T}).to(device), true);
    const at::Tensor nll = token_nll(h.reshape({-1, h.size(-1)}).index_select(0, long_tensor(where).to(device)),
                                     head, long_tensor(targets).to(device));
    const at::Tensor sums = at::zeros({rows}, at::kDouble).index_add_(0, long_tensor(owner), nll.to(at::kDouble).cpu());
    for (int64_t r = 0; r < rows; ++r) out[j0 + r].nll = sums[r].item<double>();
    j0 = j1;
  }
  return out;
}

std::vector<OptionNll> mdm_option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                      const TokenizedExample& ex, uint64_t example_key,
                                      const ScoreOptions& options) {
  c10::InferenceMode inference;
  const at::Device device = flats[0].device();
  const at::Tensor head = model.head_weight(flats[0]);
  const int64_t C = static_cast<int64_t>(ex.context.size());
  const size_t n = ex.options.size();
  const uint64_t key = hash_combine(options.seed, example_key);

  // Options of equal length share forwards; the model sees every position, so no padding.
  std::map<int64_t, std::vector<size_t>> by_length;
  for (size_t j = 0; j < n; ++j) by_length[static_cast<int64_t>(ex.options[j].size())].push_back(j);

  std::vector<OptionNll> out(n);
  for (const auto& [L, group] : by_length) {
    const int64_t K = L == 1 ? 1 : std::max<int64_t>(1, options.samples);
    const int64_t T = C + L;
    // Row (g, k): option group[g], sample k.
    // Common random numbers: the options of one length are scored on the same masks, so
    // the noise of the estimator largely cancels in their comparison.
    const auto masks = estimator_masks(L, K, hash_combine(key, static_cast<uint64_t>(L)));
    std::vector<std::vector<double>> values(group.size(), std::vector<double>(K));
    const int64_t total_rows = static_cast<int64_t>(group.size()) * K;
    const int64_t per_forward = std::max<int64_t>(1, options.max_batch_tokens / T);
    for (int64_t r0 = 0; r0 < total_rows; r0 += per_forward) {
      const int64_t rows = std::min(per_forward, total_rows - r0);
      std::vector<int64_t> ids(rows * T), where, targets, owner;
      std::vector<double> weight(rows);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t g = (r0 + r) / K, k = (r0 + r) % K;
        const auto& opt = ex.options[group[g]];
        const auto& masked = masks[k];
        std::copy(ex.context.begin(), ex.context.end(), ids.begin() + r * T);
        std::copy(opt.begin(), opt.end(), ids.begin() + r * T + C);
        for (const int64_t p : masked) {
          ids[r * T + C + p] = model.mask_id();
          where.push_back(r * T + C + p);
          targets.push_back(opt[p]);
          owner.push_back(r);
        }
        weight[r] = static_cast<double>(L) / static_cast<double>(masked.size());
      }
      const at::Tensor h = model.hidden(flats, long_tensor(ids).view({rows, T}).to(device), false);
      const at::Tensor nll = token_nll(h.reshape({-1, h.size(-1)}).index_select(0, long_tensor(where).to(device)),
                                       head, long_tensor(targets).to(device));
      const at::Tensor sums = at::zeros({rows}, at::kDouble).index_add_(0, long_tensor(owner), nll.to(at::kDouble).cpu());
      const double* s = sums.data_ptr<double>();
      for (int64_t r = 0; r < rows; ++r)
        values[(r0 + r) / K][(r0 + r) % K] = weight[r] * s[r];
    }
    for (size_t g = 0; g < group.size(); ++g) out[group[g]] = summarise(values[g]);
  }
  return out;
}

std::vector<OptionNll> option_nll(const Transformer& model, const std::vector<at::Tensor>& flats,
                                  bool causal, const TokenizedExample& example,
                                  uint64_t example_key, const ScoreOptions& options) {
  return causal ? ar_option_nll(model, flats, example, options)
                : mdm_option_nll(model, flats, example, example_key, options);
}

nlohmann::json McMetrics::to_json() const {
  return {{"acc", acc},           {"acc_norm", acc_norm},   {"nll_right", nll_right},
          {"nll_wrong", nll_wrong}, {"delta_nll", delta_nll}, {"examples", examples}};
}

std::string McMetrics::summary() const {
  return fmt::format("acc {:.4f}, acc_norm {:.4f}, nll right {:.3f} / wrong {:.3f} (delta {:+.3f}), "
                     "{} examples",
                     acc, acc_norm, nll_right, nll_wrong, delta_nll, examples);
}

McMetrics evaluate_multiple_choice(const Transformer& model, const std::vector<at::Tensor>& flats,
                                   bool causal, const std::vector<TokenizedExample>& examples,
                                   const ScoreOptions& options, Comm& comm) {
  double correct = 0, correct_norm = 0, right = 0, wrong = 0;
  const int64_t N = static_cast<int64_t>(examples.size());
  for (int64_t i = comm.rank(); i < N; i += comm.world_size()) {
    const auto& ex = examples[i];
    const auto nll = option_nll(model, flats, causal, ex, static_cast<uint64_t>(i), options);
    size_t best = 0, best_norm = 0;
    double others = 0;
    for (size_t j = 0; j < nll.size(); ++j) {
      if (nll[j].nll < nll[best].nll) best = j;
      if (nll[j].nll / ex.option_chars[j] < nll[best_norm].nll / ex.option_chars[best_norm]) best_norm = j;
      if (static_cast<int64_t>(j) != ex.label) others += nll[j].nll;
    }
    correct += static_cast<int64_t>(best) == ex.label;
    correct_norm += static_cast<int64_t>(best_norm) == ex.label;
    right += nll[ex.label].nll;
    wrong += others / static_cast<double>(nll.size() - 1);
  }
  McMetrics m;
  m.examples = N;
  if (N == 0) return m;
  const auto sums = comm.all_reduce_sum(std::vector<double>{correct, correct_norm, right, wrong});
  m.acc = sums[0] / N;
  m.acc_norm = sums[1] / N;
  m.nll_right = sums[2] / N;
  m.nll_wrong = sums[3] / N;
  m.delta_nll = m.nll_wrong - m.nll_right;
  return m;
}

TaskSuite::TaskSuite(const std::vector<McTask>& tasks, const Tokenizer& tokenizer, int64_t max_len) {
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
    const Transformer& model, const std::vector<at::Tensor>& flats, bool causal,
    const ScoreOptions& options, Comm& comm) const {
  std::vector<std::pair<std::string, McMetrics>> results;
  for (const auto& task : tasks_)
    results.emplace_back(task.name,
                         evaluate_multiple_choice(model, flats, causal, task.examples, options, comm));
  return results;
}

nlohmann::json tasks_json(const std::vector<std::pair<std::string, McMetrics>>& results) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, m] : results) j[name] = m.to_json();
  return j;
}

}  // namespace crossover
