// Library-level training behaviour: initial loss, memorising one batch, the schedule, AdamW.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cmath>

#include "crossover/comm/comm.h"
#include "crossover/distributed/sharding.h"
#include "crossover/objective/objective.h"
#include "crossover/optim/lr_schedule.h"
#include "crossover/optim/optimizer.h"

namespace crossover {
namespace {

struct Tiny {
  ModelConfig model;
  OptimizerConfig opt;
  std::unique_ptr<Transformer> transformer;
  std::unique_ptr<Comm> comm = make_local_comm();
  std::unique_ptr<Sharding> sharding;

  explicit Tiny(int64_t vocab, int64_t d = 64, int64_t layers = 2, double lr = 3e-3,
                ShardingOptions so = {}, double dropout = 0) {
    model.layers = layers;
    model.d_model = d;
    model.heads = 4;
    model.dropout = dropout;
    opt.lr = lr;
    opt.weight_decay = 0.0;
    transformer = std::make_unique<Transformer>(model, vocab, 64);
    sharding = make_sharding(so, *transformer, opt, *comm);
    sharding->init(0);
  }
  double step(const Batch& b, double lr) {
    sharding->optimizer().zero_grads();
    const double loss = sharding->forward_backward(b, true).item<double>();
    sharding->reduce_gradients();
    const double norm = std::sqrt(sharding->grad_sq_share().item<double>());
    sharding->optimizer().scale_grads(clip_factor(norm, 1.0));
    sharding->optimizer().step(lr);
    return loss;
  }
};

at::Tensor fixed_windows(int64_t rows, int64_t len, int64_t vocab) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(42);
  return at::randint(4, vocab, {rows, len + 1}, gen, at::kLong);
}

TEST(Training, RandomInitLossIsLnVForBothObjectives) {
  const int64_t V = 512;
  Tiny t(V);
  const at::Tensor w = fixed_windows(64, 48, V);
  for (const std::string type : {"ar", "mdm"}) {
    ObjectiveConfig oc;
    oc.type = *parse_choice<ObjectiveType>(type);
    const auto obj = make_objective(oc, V);
    double total = 0;
    const int samples = type == "ar" ? 1 : 8;  // mdm: average over masks
    for (int s = 0; s < samples; ++s)
      total += batch_loss(*t.transformer, t.sharding->full_flats(at::kFloat),
                          obj->make_batch(w, {0, s, s * 64, 64}))
                   .item<double>();
    EXPECT_NEAR(total / samples / std::log(V), 1.0, 0.05) << type;
  }
}

// Four sequences, each a different ordering of the same 8 tokens, repeated: neither a bigram nor
// a token's identity tells what follows or what is masked, so both objectives must learn to
// attend by position. (Random sequences would not do for masked diffusion: with RoPE's relative
// positions a fully masked sequence gives no hint of what stands where.)
at::Tensor motif_windows(int64_t rows, int64_t len) {
  std::vector<at::Tensor> motifs;
  for (int64_t r = 0; r < rows; ++r)
    motifs.push_back(at::randperm(8, at::make_generator<at::CPUGeneratorImpl>(r + 1)) + 4);
  return at::stack(motifs).repeat({1, (len + 1 + 7) / 8}).narrow(1, 0, len + 1).contiguous();
}

TEST(Training, EachObjectiveMemorisesOneFixedBatch) {
  const int64_t V = 256;
  for (const std::string type : {"ar", "mdm"}) {
    Tiny t(V);
    ObjectiveConfig oc;
    oc.type = *parse_choice<ObjectiveType>(type);
    const auto obj = make_objective(oc, V);
    const at::Tensor w = motif_windows(4, 32);
    double recent = 0;
    int steps = 0;
    for (; steps < 1000; ++steps) {
      // The tokens stay fixed; for mdm the masks and times are redrawn every step.
      const double loss = t.step(obj->make_batch(w, {0, steps, steps * 4, 4}), 3e-3);
      recent = steps == 0 ? loss : 0.9 * recent + 0.1 * loss;
      if (steps > 20 && recent < 0.1 * std::log(V)) break;
    }
    EXPECT_LT(recent, 0.1 * std::log(V)) << type << " after " << steps << " steps";
    std::printf("%s: loss %.3f (< %.3f) after %d steps\n", type.c_str(), recent, 0.1 * std::log(V),
                steps);
  }
}

// CPU batch workers split a micro-batch's rows over threads: the same losses and parameters as
// one thread running the whole micro-batch, up to float summation order, for both objectives,
// with dropout (row-keyed masks) and with recomputed blocks; 5 rows over 2 and 3 workers.
TEST(Training, CpuBatchWorkersGiveTheSameTrainingAsOneThread) {
  const int64_t V = 256;
  const at::Tensor w = fixed_windows(5, 32, V);
  for (const std::string type : {"ar", "mdm"})
    for (const int workers : {2, 3})
      for (const bool recompute : {false, true}) {
        ObjectiveConfig oc;
        oc.type = *parse_choice<ObjectiveType>(type);
        const auto obj = make_objective(oc, V);
        ShardingOptions serial;
        serial.recompute = recompute;
        ShardingOptions split = serial;
        set_cpu_workers(split, workers, workers, 5);
        ASSERT_EQ(split.cpu_workers, workers);
        Tiny a(V, 64, 2, 3e-3, serial, 0.1), b(V, 64, 2, 3e-3, split, 0.1);
        // The gradients of one micro-batch from the same parameters.
        const Batch first = obj->make_batch(w, StepContext{0, 0, 0, 5});
        for (Tiny* t : {&a, &b}) {
          t->sharding->optimizer().zero_grads();
          t->sharding->forward_backward(first, true);
          t->sharding->reduce_gradients();
        }
        for (size_t g = 0; g < a.sharding->optimizer().slots().size(); ++g) {
          const at::Tensor ga = a.sharding->optimizer().slots()[g].grad;
          const at::Tensor gb = b.sharding->optimizer().slots()[g].grad;
          EXPECT_LE((gb - ga).abs().max().item<double>(), 1e-5 * ga.abs().max().item<double>())
              << type << " " << workers << " group " << g;
        }
        // Then training: the losses stay together (the parameters drift apart only by rounding,
        // which Adam amplifies where a gradient is near zero).
        for (int s = 0; s < 4; ++s) {
          const Batch batch = obj->make_batch(w, StepContext{0, s, s * 5, 5});
          const double la = a.step(batch, 3e-3), lb = b.step(batch, 3e-3);
          EXPECT_NEAR(lb, la, 1e-5 * std::abs(la)) << type << " " << workers << " step " << s;
        }
      }
}

TEST(Training, CpuWorkersAreResolvedOnlyWhereTheyApply) {
  ShardingOptions o;
  set_cpu_workers(o, 0, 8, 4);  // auto: min(threads, rows), threads split between them
  EXPECT_EQ(o.cpu_workers, 4);
  EXPECT_EQ(o.threads_per_worker, 2);
  set_cpu_workers(o, 1, 8, 4);  // off
  EXPECT_EQ(o.cpu_workers, 1);
  o.kind = ShardingKind::kFsdp;
  set_cpu_workers(o, 0, 8, 4);
  EXPECT_EQ(o.cpu_workers, 1);
  o.kind = ShardingKind::kNone;
  set_cpu_workers(o, 0, 1, 4);  // one thread: nothing to split
  EXPECT_EQ(o.cpu_workers, 1);
}

TEST(Training, LearningRateSchedules) {
  OptimizerConfig o;
  o.lr = 1.0;
  o.min_lr = 0.1;
  ScheduleConfig s;
  s.warmup_steps = 10;
  EXPECT_DOUBLE_EQ(learning_rate(s, o, 0, 100), 0.1);
  EXPECT_DOUBLE_EQ(learning_rate(s, o, 9, 100), 1.0);
  EXPECT_NEAR(learning_rate(s, o, 10, 100), 1.0, 1e-12);             // cosine starts at the peak
  EXPECT_NEAR(learning_rate(s, o, 99, 100), 0.1, 1e-12);             // and ends at min_lr
  EXPECT_NEAR(learning_rate(s, o, 10 + 89 / 2.0, 100), 0.55, 1e-2);  // halfway
  s.type = LrShape::kWsd;
  s.decay_fraction = 0.2;
  EXPECT_DOUBLE_EQ(learning_rate(s, o, 50, 100), 1.0);
  EXPECT_DOUBLE_EQ(learning_rate(s, o, 79, 100), 1.0);
  EXPECT_NEAR(learning_rate(s, o, 89, 100), 0.55, 1e-12);
  EXPECT_NEAR(learning_rate(s, o, 99, 100), 0.1, 1e-12);
  s.type = LrShape::kConstant;
  EXPECT_DOUBLE_EQ(learning_rate(s, o, 99, 100), 1.0);
}

TEST(Training, AdamWMatchesTheReferenceUpdate) {
  OptimizerConfig o;
  o.lr = 0.01;
  o.weight_decay = 0.1;
  AdamW adam(o);
  OptimizerSlot slot;
  slot.param = at::tensor({1.0f, -2.0f, 0.5f, 3.0f});
  slot.grad = at::zeros({4});
  slot.decay = {{0, 2}};  // the first two elements decay, the last two do not
  adam.add_slot(slot);
  std::vector<double> p = {1.0, -2.0, 0.5, 3.0}, m(4, 0), v(4, 0);
  const std::vector<std::vector<double>> grads = {
      {0.1, -0.2, 0.3, 0.0}, {0.5, 0.1, -0.1, 2.0}, {-0.3, 0.0, 0.2, 1.0}};
  for (size_t t = 1; t <= grads.size(); ++t) {
    for (int i = 0; i < 4; ++i) adam.slots()[0].grad[i] = grads[t - 1][i];
    adam.step(0.01);
    for (int i = 0; i < 4; ++i) {
      const double g = grads[t - 1][i];
      if (i < 2) p[i] *= 1 - 0.01 * 0.1;
      m[i] = 0.9 * m[i] + 0.1 * g;
      v[i] = 0.95 * v[i] + 0.05 * g * g;
      const double mh = m[i] / (1 - std::pow(0.9, t)), vh = v[i] / (1 - std::pow(0.95, t));
      p[i] -= 0.01 * mh / (std::sqrt(vh) + 1e-8);
    }
  }
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(adam.slots()[0].param[i].item<double>(), p[i], 1e-6);
  EXPECT_DOUBLE_EQ(clip_factor(4.0, 1.0), 1.0 / (4.0 + 1e-6));
  EXPECT_DOUBLE_EQ(clip_factor(0.5, 1.0), 1.0);
  EXPECT_DOUBLE_EQ(clip_factor(9.0, 0.0), 1.0);
}

TEST(Training, FusedCpuAdamWMatchesTheComposedUpdate) {
  OptimizerConfig o;
  o.weight_decay = 0.1;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(11);
  // Odd length: tasks and vector lanes end mid-slot; decay segments cross task boundaries.
  const int64_t n = 100003;
  OptimizerSlot fused, composed;
  fused.param = at::randn({n}, gen);
  fused.exp_avg = at::zeros({n});
  fused.exp_avg_sq = at::zeros({n});
  fused.decay = {{0, 50000}, {70000, 10001}};
  composed = fused;
  composed.param = fused.param.clone();
  composed.exp_avg = fused.exp_avg.clone();
  composed.exp_avg_sq = fused.exp_avg_sq.clone();
  EXPECT_FALSE(adamw_cpu_applies(fused));  // no gradient yet
  for (int64_t step = 1; step <= 3; ++step) {
    fused.grad = composed.grad = at::randn({n}, gen) * 0.1;
    ASSERT_TRUE(adamw_cpu_applies(fused));
    adamw_update_cpu(fused, o, 0.01, step);
    adamw_update_composed(composed, o, 0.01, step);
  }
  for (auto [a, b] : {std::pair{fused.param, composed.param},
                      {fused.exp_avg, composed.exp_avg},
                      {fused.exp_avg_sq, composed.exp_avg_sq}})
    EXPECT_LE((a - b).abs().max().item<double>(), 1e-6 * b.abs().max().item<double>());
  // A slot in another dtype takes the composed update.
  EXPECT_FALSE(adamw_cpu_applies(
      OptimizerSlot{fused.param.to(at::kDouble), fused.grad, fused.exp_avg, fused.exp_avg_sq, {}}));
}

TEST(Training, CpuGradientSumOfSquaresIsExactEnoughAndThreadIndependent) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(12);
  const at::Tensor g = at::randn({300001}, gen) * 1e-2;
  const double fused = grad_sq_cpu(g).item<double>();
  EXPECT_NEAR(fused, grad_sq_composed(g).item<double>(), 1e-12 * fused);
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  const double one = grad_sq_cpu(g).item<double>();
  at::set_num_threads(2);
  const double two = grad_sq_cpu(g).item<double>();
  at::set_num_threads(threads);
  EXPECT_EQ(one, two);
  EXPECT_EQ(one, fused);
}

}  // namespace
}  // namespace crossover
