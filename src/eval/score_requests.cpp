#include "crossover/eval/score_requests.h"

#include <ATen/ATen.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "crossover/checkpoint/loaded_model.h"
#include "crossover/eval/multiple_choice.h"
#include "crossover/util/fs.h"
#include "crossover/util/random.h"
#include "crossover/util/threads.h"

namespace crossover {

namespace {

// One parsed request line.
struct Request {
  enum Kind { kText, kIds, kRolling } kind = kText;
  std::string where;  // FILE:LINE
  uint64_t key = 0;
  std::string context, continuation, rolling;
  std::vector<int64_t> context_ids, continuation_ids;
};

std::vector<int64_t> ids_of(const nlohmann::json& j, const std::string& where,
                            const std::string& field, int64_t vocab) {
  if (!j.is_array())
    throw std::runtime_error(where + ": \"" + field + "\" must be an array of token ids");
  std::vector<int64_t> ids;
  for (const auto& v : j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab)
      throw std::runtime_error(where + ": \"" + field + "\" holds " + v.dump() +
                               ", not a token id in [0, " + std::to_string(vocab) + ")");
    ids.push_back(v.get<int64_t>());
  }
  return ids;
}

std::string text_of(const nlohmann::json& line, const std::string& where, const char* field) {
  const auto& v = line.at(field);
  if (!v.is_string()) throw std::runtime_error(where + ": \"" + field + "\" must be a string");
  return v.get<std::string>();
}

Request parse_request(const std::string& text, const std::string& where, uint64_t index,
                      int64_t vocab) {
  const auto line = nlohmann::json::parse(text, nullptr, false);
  if (!line.is_object()) throw std::runtime_error(where + ": not a JSON object");
  Request r;
  r.where = where;
  r.key = index;
  if (line.contains("key")) {
    if (!line["key"].is_number_unsigned())
      throw std::runtime_error(where + ": \"key\" must be a non-negative integer");
    r.key = line["key"].get<uint64_t>();
  }
  if (line.contains("rolling")) {
    r.kind = Request::kRolling;
    r.rolling = text_of(line, where, "rolling");
  } else if (line.contains("continuation_ids")) {
    r.kind = Request::kIds;
    r.continuation_ids = ids_of(line["continuation_ids"], where, "continuation_ids", vocab);
    if (r.continuation_ids.empty())
      throw std::runtime_error(where + ": \"continuation_ids\" is empty");
    if (line.contains("context_ids"))
      r.context_ids = ids_of(line["context_ids"], where, "context_ids", vocab);
  } else if (line.contains("continuation")) {
    r.continuation = text_of(line, where, "continuation");
    if (line.contains("context")) r.context = text_of(line, where, "context");
  } else {
    throw std::runtime_error(where +
                             ": expected {\"context\", \"continuation\"}, {\"context_ids\", "
                             "\"continuation_ids\"} or {\"rolling\"}");
  }
  return r;
}

std::vector<Request> read_requests(const std::string& path, int64_t vocab) {
  std::ifstream file;
  if (path != "-") {
    file.open(path);
    if (!file) throw std::runtime_error(path + ": cannot open the requests file");
  }
  std::istream& in = path == "-" ? std::cin : file;
  const std::string name = path == "-" ? "<stdin>" : path;
  std::vector<Request> requests;
  std::string text;
  for (int64_t n = 1; std::getline(in, text); ++n) {
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    requests.push_back(parse_request(text, name + ":" + std::to_string(n),
                                     static_cast<uint64_t>(requests.size()), vocab));
  }
  return requests;
}

// A group's context, as eval keeps it: never empty, its last tokens when it must be cut.
void fit_context(TokenizedExample& ex, int64_t eos, int64_t max_len, const std::string& where) {
  if (ex.context.empty()) ex.context.push_back(eos);
  int64_t longest = 0;
  for (const auto& o : ex.options) longest = std::max<int64_t>(longest, o.size());
  if (longest + 1 > max_len)
    throw std::runtime_error(where + ": a continuation of " + std::to_string(longest) +
                             " tokens does not fit the model's " + std::to_string(max_len) +
                             "-token sequences with any context");
  const int64_t room = max_len - longest;
  if (static_cast<int64_t>(ex.context.size()) > room)
    ex.context.erase(ex.context.begin(), ex.context.end() - room);
}

nlohmann::json answer(const OptionNll& s, size_t tokens, size_t context_tokens) {
  return {{"nll", s.nll}, {"se", s.se}, {"tokens", tokens}, {"context_tokens", context_tokens}};
}

}  // namespace

std::vector<nlohmann::json> score_requests(const ScoreRequestsOptions& o) {
  LoadOptions lo;
  lo.step = o.step;
  lo.device = parse_optional_choice<DeviceChoice>(o.device, "--device");
  const LoadedModel m = load_model(o.run_dir, lo);
  const RunConfig& c = m.config;
  configure_threads(o.threads >= 0 ? o.threads : static_cast<int>(c.hardware.threads));
  const std::vector<Request> requests = read_requests(o.requests, m.model->vocab());
  // As `crossover eval` scores tasks: the same samples, seed and forward sizes.
  ScoreOptions so;
  so.samples = o.samples > 0 ? o.samples : c.eval.task_samples;
  const int64_t batch_rows = c.training.micro_batch > 0 ? c.training.micro_batch
                                                        : c.training.global_batch;
  so.max_batch_tokens = batch_rows * c.data.seq_len;
  const int64_t max_len = m.model->max_seq_len(), eos = m.eos_id();
  spdlog::info("scoring {} requests with {} ({}, {} samples per continuation)", requests.size(),
               m.checkpoint_dir, to_string(c.objective.type),
               m.objective->exact_likelihood() ? 1 : so.samples);

  std::vector<nlohmann::json> answers(requests.size());
  for (size_t i = 0; i < requests.size();) {
    const Request& r = requests[i];
    if (r.kind == Request::kRolling) {
      std::vector<int64_t> stream = {eos};
      for (const int32_t id : m.tokenizer->encode(r.rolling)) stream.push_back(id);
      const int64_t n = static_cast<int64_t>(stream.size()), step = max_len - 1;
      double nll = 0, var = 0;
      int64_t windows = 0;
      for (int64_t start = 0; start + 1 < n; start += step, ++windows) {
        TokenizedExample ex;
        ex.context = {stream[start]};
        ex.options.emplace_back(stream.begin() + start + 1,
                                stream.begin() + std::min(n, start + max_len));
        ex.option_chars = {1.0};
        const auto s = m.objective->option_nll(
            *m.model, m.flats, ex, hash_combine(r.key, static_cast<uint64_t>(windows)), so);
        nll += s[0].nll;
        var += s[0].se * s[0].se;
      }
      answers[i] = answer({nll, std::sqrt(var)}, static_cast<size_t>(n - 1), 1);
      answers[i]["windows"] = windows;
      ++i;
      continue;
    }
    // A group: consecutive continuation requests of one key and one context.
    size_t end = i + 1;
    while (end < requests.size() && requests[end].kind == r.kind && requests[end].key == r.key &&
           requests[end].context == r.context && requests[end].context_ids == r.context_ids)
      ++end;
    TokenizedExample ex;
    if (r.kind == Request::kText) {
      McExample text;
      text.context = r.context;
      for (size_t j = i; j < end; ++j) text.options.push_back(requests[j].continuation);
      ex = tokenize_example(*m.tokenizer, text, max_len, r.where);
    } else {
      ex.context = r.context_ids;
      for (size_t j = i; j < end; ++j) {
        ex.options.push_back(requests[j].continuation_ids);
        ex.option_chars.push_back(1.0);
      }
      fit_context(ex, eos, max_len, r.where);
    }
    const auto s = m.objective->option_nll(*m.model, m.flats, ex, r.key, so);
    for (size_t j = i; j < end; ++j)
      answers[j] = answer(s[j - i], ex.options[j - i].size(), ex.context.size());
    i = end;
  }
  return answers;
}

void score_requests_to_file(const ScoreRequestsOptions& o) {
  std::string out;
  for (const auto& a : score_requests(o)) out += a.dump() + "\n";
  if (o.out == "-") {
    std::fputs(out.c_str(), stdout);
    std::fflush(stdout);
  } else {
    atomic_write_file(o.out, out);
  }
}

}  // namespace crossover
