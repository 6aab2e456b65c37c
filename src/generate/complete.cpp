#include "crossover/generate/complete.h"

#include <algorithm>
#include <stdexcept>

#include "crossover/generate/ar.h"

namespace crossover {

namespace {

Completions left_to_right(const Transformer& model, const std::vector<at::Tensor>& flats,
                          const std::vector<Prompt>& prompts, const CompletionRequest& request) {
  ArOptions a;
  a.max_new = request.max_new;
  a.sampling = request.sampling;
  a.seed = request.seed;
  a.eos_id = request.eos_id;
  const ArResult r = generate_ar(model, flats, prompts, a);
  Completions c;
  c.tokens = r.tokens;
  c.forward_calls = r.forward_calls;
  for (size_t i = 0; i < prompts.size(); ++i)
    c.notes.push_back(r.stopped_at_eos[i] ? "stopped at eos" : "max-new reached");
  return c;
}

Completions unmasking(const Transformer& model, const std::vector<at::Tensor>& flats,
                      const std::vector<Prompt>& prompts, const CompletionRequest& request) {
  MdmOptions d = request.unmasking;
  d.max_new = request.max_new;
  d.sampling = request.sampling;
  d.seed = request.seed;
  const MdmResult r = generate_mdm(model, flats, prompts, d);
  Completions c;
  c.forward_calls = r.forward_calls;
  // A diffusion model fills all N positions; text after the first eos belongs to another
  // document (training concatenates documents with eos between them).
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int64_t> t = r.tokens[i];
    const auto eos = std::find(t.begin(), t.end(), static_cast<int64_t>(request.eos_id));
    c.notes.push_back(eos == t.end() ? "no eos"
                                     : "cut at eos, token " + std::to_string(eos - t.begin()));
    t.erase(eos, t.end());
    c.tokens.push_back(std::move(t));
  }
  return c;
}

}  // namespace

Completions complete(const Transformer& model, const std::vector<at::Tensor>& flats,
                     const Objective& objective, const std::vector<Prompt>& prompts,
                     const CompletionRequest& request) {
  switch (objective.decoding()) {
    case Decoding::kLeftToRight: return left_to_right(model, flats, prompts, request);
    case Decoding::kUnmasking: return unmasking(model, flats, prompts, request);
  }
  throw std::logic_error("complete: an unhandled Decoding");
}

}  // namespace crossover
