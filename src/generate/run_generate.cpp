#include "crossover/generate/run_generate.h"

#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <stdexcept>

#include "crossover/checkpoint/loaded_model.h"
#include "crossover/generate/complete.h"
#include "crossover/util/threads.h"

namespace crossover {

namespace {

std::vector<std::string> read_prompt_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read --prompt-file " + path);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.push_back(line);
  return out;
}

std::vector<std::string> prompt_texts(const RunGenerateOptions& o) {
  std::vector<std::string> texts = o.prompts;
  if (!o.prompt_file.empty()) {
    const auto more = read_prompt_file(o.prompt_file);
    texts.insert(texts.end(), more.begin(), more.end());
  }
  if (texts.empty()) throw std::invalid_argument("no prompt: give --prompt or --prompt-file");
  return texts;
}

CompletionRequest completion_request(const RunGenerateOptions& o, int32_t eos_id) {
  CompletionRequest request;
  request.max_new = o.max_new;
  request.sampling = o.sampling;
  request.seed = o.seed;
  request.eos_id = eos_id;
  request.unmasking.steps = o.steps;
  request.unmasking.block_length = o.block_length;
  request.unmasking.remasking = parse_remasking(o.remasking);
  request.unmasking.threshold = o.threshold;
  request.unmasking.cache = parse_mdm_cache(o.cache);
  return request;
}

}  // namespace

RunGenerateResult generate_run(const RunGenerateOptions& o) {
  const std::vector<std::string> texts = prompt_texts(o);
  LoadOptions lo;
  lo.step = o.step;
  lo.device = parse_optional_choice<DeviceChoice>(o.device, "--device");
  const LoadedModel m = load_model(o.run_dir, lo);
  configure_threads(o.threads >= 0 ? o.threads : static_cast<int>(m.config.hardware.threads));
  std::vector<Prompt> prompts;
  for (const auto& t : texts) {
    const auto ids = m.tokenizer->encode(t);
    prompts.emplace_back(ids.begin(), ids.end());
  }
  spdlog::info("{} run, step {}, {} prompt(s), max-new {}, temperature {}, on {}",
               m.objective->name(), m.step, prompts.size(), o.max_new, o.sampling.temperature,
               m.device.str());
  if (m.objective->decoding() != Decoding::kUnmasking)
    for (const auto& name : o.unmasking_options_set)
      spdlog::warn("{} applies to mdm runs only; ignored for this {} run", name,
                   m.objective->name());
  const CompletionRequest request = completion_request(o, m.eos_id());

  const auto t0 = std::chrono::steady_clock::now();
  const Completions c = complete(*m.model, m.flats, *m.objective, prompts, request);
  RunGenerateResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.forward_calls = c.forward_calls;
  r.threads = at::get_num_threads();
  for (size_t i = 0; i < prompts.size(); ++i) {
    // Decoded with the prompt: SentencePiece drops the leading space of a sequence's first
    // piece, so a completion decoded alone would lose the space joining it to the prompt.
    std::vector<int32_t> ids(prompts[i].begin(), prompts[i].end());
    ids.insert(ids.end(), c.tokens[i].begin(), c.tokens[i].end());
    r.completions.push_back({static_cast<int64_t>(prompts[i].size()),
                             static_cast<int64_t>(c.tokens[i].size()), c.notes[i],
                             m.tokenizer->decode(ids)});
  }
  return r;
}

std::string format_completions(const RunGenerateResult& result) {
  std::string out;
  for (size_t i = 0; i < result.completions.size(); ++i) {
    const GeneratedText& g = result.completions[i];
    out += fmt::format("--- {}: {} prompt tokens, {} new ({}) ---\n{}\n", i, g.prompt_tokens,
                       g.new_tokens, g.note, g.text);
  }
  return out;
}

}  // namespace crossover
