#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <torch/csrc/api/include/torch/version.h>

#include <cmath>

#include "crossover/model/flops.h"
#include "crossover/model/transformer.h"

namespace crossover {
namespace {

ModelConfig small(bool tied = true, int64_t kv = 0, bool qk = true) {
  ModelConfig m;
  m.layers = 2;
  m.d_model = 32;
  m.heads = 4;
  m.kv_heads = kv;
  m.qk_norm = qk;
  m.tie_embeddings = tied;
  return m;
}

std::vector<at::Tensor> init_flats(const Transformer& model, uint64_t seed = 0) {
  std::vector<at::Tensor> flats;
  for (const auto& g : model.layout().groups) {
    at::Tensor f = at::empty({g.numel});
    init_group(g, model.config(), seed, f);
    flats.push_back(f);
  }
  return flats;
}

TEST(Transformer, ParameterCountEqualsTheAnalyticFormula) {
  for (bool tied : {true, false})
    for (int64_t kv : {0, 2, 1})
      for (bool qk : {true, false}) {
        const ModelConfig m = small(tied, kv, qk);
        const Transformer model(m, 100, 16);
        const ParamCount pc = count_parameters(m, 100);
        EXPECT_EQ(model.layout().total_numel(), pc.total) << tied << kv << qk;
        // The formula written out: embedding with [MASK] row, blocks, final norm, head.
        const int64_t d = 32, hd = 8, kvh = kv ? kv : 4, ffn = m.ffn_hidden_resolved();
        const int64_t block = 2 * d * d + 2 * d * kvh * hd + 3 * d * ffn + 2 * d +
                              (qk ? 2 * hd : 0);
        EXPECT_EQ(pc.total, 101 * d + 2 * block + d + (tied ? 0 : 100 * d));
      }
  // The 1B configuration of the paper: 26 layers, d 1792, 14 heads, FFN 4736, tied.
  ModelConfig b;
  b.layers = 26;
  b.d_model = 1792;
  b.heads = 14;
  b.ffn_hidden = 4736;
  const ParamCount pc = count_parameters(b, 50257);
  EXPECT_NEAR(pc.total / 1e9, 1.10, 0.02);
}

TEST(Transformer, InitialisationIsSeededPerParameter) {
  const Transformer model(small(), 50, 16);
  const auto a = init_flats(model, 1), b = init_flats(model, 1), c = init_flats(model, 2);
  for (size_t g = 0; g < a.size(); ++g) {
    EXPECT_TRUE(at::equal(a[g], b[g]));
    EXPECT_FALSE(at::equal(a[g], c[g]));
  }
  // Norms start at one; residual projections have the smaller std.
  const auto& blk = model.layout().groups[1];
  EXPECT_TRUE(at::equal(param_view(a[1], blk.find("attn_norm")), at::ones({32})));
  const double std_q = param_view(a[1], blk.find("attn.wq")).std().item<double>();
  const double std_o = param_view(a[1], blk.find("attn.wo")).std().item<double>();
  EXPECT_NEAR(std_q, 0.02, 0.003);
  EXPECT_NEAR(std_o, 0.02 / std::sqrt(4.0), 0.002);
}

// Attention written as the textbook loop, in double.
at::Tensor naive_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           bool causal) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), KV = k.size(1);
  at::Tensor out = at::zeros(q.sizes(), at::kDouble);
  const at::Tensor qd = q.to(at::kDouble), kd = k.to(at::kDouble), vd = v.to(at::kDouble);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kh = h / (H / KV);
      for (int64_t i = 0; i < T; ++i) {
        const int64_t visible = causal ? i + 1 : k.size(2);
        at::Tensor s = at::matmul(kd[b][kh].narrow(0, 0, visible), qd[b][h][i]) /
                       std::sqrt(q.size(3));
        out[b][h][i] = at::matmul(at::softmax(s, 0), vd[b][kh].narrow(0, 0, visible));
      }
    }
  return out;
}

TEST(Transformer, AttentionAgreesWithTheTextbookLoop) {
  at::manual_seed(3);
  const at::Tensor q = at::randn({2, 4, 7, 8}), k = at::randn({2, 2, 7, 8}),
                   v = at::randn({2, 2, 7, 8});
  for (bool causal : {true, false}) {
    for (const std::string impl : {"plain", "auto"}) {
      ModelConfig m = small(true, 2);
      m.attention = *parse_choice<AttentionImpl>(impl);
      const Transformer model(m, 10, 16);
      const at::Tensor got = model.attention(q, k, v, causal).to(at::kDouble);
      EXPECT_TRUE(at::allclose(got, naive_attention(q, k, v, causal), 1e-5, 1e-6))
          << impl << " causal=" << causal;
    }
  }
  // On LibTorch 2.x auto is scaled_dot_product_attention; it must agree with plain.
  ModelConfig m = small(true, 2);
  const Transformer model(m, 10, 16);
  EXPECT_EQ(model.uses_sdpa(), TORCH_VERSION_MAJOR >= 2);
}

TEST(Transformer, ArIsCausalAndMdmIsBidirectional) {
  const Transformer model(small(), 50, 16);
  const auto flats = init_flats(model);
  const at::Tensor ids = at::randint(0, 50, {1, 12});
  const int64_t j = 5;
  at::Tensor perturbed = ids.clone();
  perturbed[0][j] = (ids[0][j].item<int64_t>() + 1) % 50;
  for (bool causal : {true, false}) {
    const at::Tensor a = model.logits(flats[0], model.hidden(flats, ids, causal));
    const at::Tensor b = model.logits(flats[0], model.hidden(flats, perturbed, causal));
    for (int64_t i = 0; i < 12; ++i) {
      const bool changed = !at::allclose(a[0][i], b[0][i], 0, 1e-7);
      if (causal) EXPECT_EQ(changed, i >= j) << "ar position " << i;
      else EXPECT_TRUE(changed) << "mdm position " << i;
    }
  }
}

TEST(Transformer, KvCacheGivesTheSameLogitsAsAFullForward) {
  const Transformer model(small(true, 2), 50, 32);
  const auto flats = init_flats(model);
  const at::Tensor ids = at::randint(0, 50, {2, 10});
  const at::Tensor full = model.logits(flats[0], model.hidden(flats, ids, true));
  KVCache cache = model.make_cache(2, 32, at::kFloat);
  // A prompt of 4, then one token at a time.
  std::vector<at::Tensor> parts = {model.logits(
      flats[0], model.hidden(flats, ids.narrow(1, 0, 4), true, &cache, CacheMode::Append))};
  for (int64_t t = 4; t < 10; ++t)
    parts.push_back(model.logits(
        flats[0], model.hidden(flats, ids.narrow(1, t, 1), true, &cache, CacheMode::Append)));
  EXPECT_EQ(cache.length, 10);
  EXPECT_TRUE(at::allclose(at::cat(parts, 1), full, 1e-5, 1e-6));
  // Read mode attends to the cache without growing it.
  KVCache prefix = model.make_cache(2, 32, at::kFloat);
  model.hidden(flats, ids.narrow(1, 0, 6), false, &prefix, CacheMode::Append);
  const at::Tensor rest = model.hidden(flats, ids.narrow(1, 6, 4), false, &prefix, CacheMode::Read);
  EXPECT_EQ(prefix.length, 6);
  EXPECT_EQ(rest.size(1), 4);
}

TEST(Transformer, SdpaRequestedOnOldLibTorchIsAClearError) {
  if (TORCH_VERSION_MAJOR >= 2) GTEST_SKIP() << "LibTorch has sdpa";
  ModelConfig m = small();
  m.attention = AttentionImpl::kSdpa;
  try {
    Transformer(m, 10, 16);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("model.attention: sdpa needs LibTorch 2.0"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace crossover
