#include "crossover/model/layout.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/grad_mode.h>

#include <cmath>
#include <stdexcept>

#include "crossover/util/random.h"

namespace crossover {

const ParamSpec& GroupLayout::find(const std::string& short_name) const {
  for (const auto& p : params)
    if (p.name == name + "." + short_name || p.name == short_name) return p;
  throw std::out_of_range("no parameter " + short_name + " in group " + name);
}

int64_t ModelLayout::total_numel() const {
  int64_t n = 0;
  for (const auto& g : groups) n += g.numel;
  return n;
}

namespace {
void add(GroupLayout& g, const std::string& name, std::vector<int64_t> shape, ParamKind kind,
         Init init) {
  ParamSpec p;
  p.name = g.name == "embed" ? name : g.name + "." + name;
  p.shape = std::move(shape);
  p.numel = 1;
  for (int64_t s : p.shape) p.numel *= s;
  p.offset = g.numel;
  p.kind = kind;
  p.init = init;
  g.numel += p.numel;
  g.params.push_back(std::move(p));
}
}  // namespace

ModelLayout make_layout(const ModelConfig& m, int64_t vocab) {
  const int64_t d = m.d_model, hd = m.head_dim(), kv = m.kv_heads_resolved(),
                ffn = m.ffn_hidden_resolved();
  ModelLayout layout;
  GroupLayout embed{"embed", {}, 0};
  add(embed, "tok_embeddings", {vocab + 1, d}, ParamKind::Embedding, Init::Normal);
  add(embed, "norm", {d}, ParamKind::Norm, Init::Ones);
  if (!m.tie_embeddings) add(embed, "lm_head", {vocab, d}, ParamKind::Matrix, Init::Normal);
  layout.groups.push_back(std::move(embed));
  for (int64_t i = 0; i < m.layers; ++i) {
    GroupLayout b{"blocks." + std::to_string(i), {}, 0};
    add(b, "attn_norm", {d}, ParamKind::Norm, Init::Ones);
    add(b, "attn.wq", {d, d}, ParamKind::Matrix, Init::Normal);
    add(b, "attn.wk", {kv * hd, d}, ParamKind::Matrix, Init::Normal);
    add(b, "attn.wv", {kv * hd, d}, ParamKind::Matrix, Init::Normal);
    add(b, "attn.wo", {d, d}, ParamKind::Matrix, Init::NormalResidual);
    if (m.qk_norm) {
      add(b, "attn.q_norm", {hd}, ParamKind::Norm, Init::Ones);
      add(b, "attn.k_norm", {hd}, ParamKind::Norm, Init::Ones);
    }
    add(b, "ffn_norm", {d}, ParamKind::Norm, Init::Ones);
    add(b, "ffn.w_gate", {ffn, d}, ParamKind::Matrix, Init::Normal);
    add(b, "ffn.w_up", {ffn, d}, ParamKind::Matrix, Init::Normal);
    add(b, "ffn.w_down", {d, ffn}, ParamKind::Matrix, Init::NormalResidual);
    layout.groups.push_back(std::move(b));
  }
  return layout;
}

at::Tensor param_view(const at::Tensor& flat, const ParamSpec& p) {
  return flat.narrow(0, p.offset, p.numel).view(p.shape);
}

void init_group(const GroupLayout& g, const ModelConfig& m, uint64_t seed, at::Tensor flat) {
  if (flat.numel() < g.numel || flat.scalar_type() != at::kFloat)
    throw std::invalid_argument("init_group: flat buffer too small or not fp32");
  at::NoGradGuard no_grad;
  const double residual_std = m.init_std / std::sqrt(2.0 * m.layers);
  for (const auto& p : g.params) {
    at::Tensor v = param_view(flat, p);
    if (p.init == Init::Ones) {
      v.fill_(1.0);
      continue;
    }
    uint64_t key = seed;
    for (char c : p.name) key = hash_combine(key, static_cast<unsigned char>(c));
    auto gen = at::make_generator<at::CPUGeneratorImpl>(key);
    at::Tensor values = at::empty(p.shape, at::kFloat);
    values.normal_(0.0, p.init == Init::NormalResidual ? residual_std : m.init_std, gen);
    v.copy_(values);
  }
}

}  // namespace crossover
