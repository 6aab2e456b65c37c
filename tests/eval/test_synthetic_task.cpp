// End to end through the library: a tiny model of each objective, trained on text where the
// answer follows from the context, picks the right option of every held-out example.
//
// The language: blocks [SEP, a, b, f(a), g(b)] with a in [8, 16), b in [16, 24), f(a) = a + 16
// and g(b) = b + 16. Training uses 48 of the 64 (a, b) combinations; the task asks, for each of
// the 16 held-out ones, which of (f(a), g(b)), (f(a), g(b')), (f(a'), g(b)), (f(a'), g(b'))
// continues [SEP, a, b]. Only a model that learnt f and g from the context gets all of them:
// the two-token options exercise the MDM estimator with L = 2.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "crossover/comm/comm.h"
#include "crossover/distributed/sharding.h"
#include "crossover/eval/multiple_choice.h"
#include "crossover/objective/objective.h"
#include "crossover/optim/lr_schedule.h"
#include "crossover/train/train_step.h"

namespace crossover {
namespace {

constexpr int64_t kVocab = 48, kSep = 4, kSeqLen = 40;

bool held_out(int64_t a, int64_t b) { return (a + b) % 4 == 0; }

// Windows of seq_len + 1 tokens made of blocks of random training combinations.
at::Tensor training_windows(int64_t rows, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor w = at::empty({rows, kSeqLen + 1}, at::kLong);
  auto acc = w.accessor<int64_t, 2>();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t pos = 0; pos < kSeqLen + 1; pos += 5) {
      int64_t a, b;
      do {
        a = 8 + at::randint(8, {1}, gen, at::kLong).item<int64_t>();
        b = 16 + at::randint(8, {1}, gen, at::kLong).item<int64_t>();
      } while (held_out(a, b));
      const int64_t block[5] = {kSep, a, b, a + 16, b + 16};
      for (int64_t i = 0; i < 5 && pos + i < kSeqLen + 1; ++i) acc[r][pos + i] = block[i];
    }
  }
  return w;
}

std::vector<TokenizedExample> held_out_task() {
  std::vector<TokenizedExample> task;
  for (int64_t a = 8; a < 16; ++a)
    for (int64_t b = 16; b < 24; ++b) {
      if (!held_out(a, b)) continue;
      const int64_t a2 = 8 + (a - 8 + 3) % 8, b2 = 16 + (b - 16 + 5) % 8;
      const std::vector<std::vector<int64_t>> candidates = {
          {a + 16, b + 16}, {a + 16, b2 + 16}, {a2 + 16, b + 16}, {a2 + 16, b2 + 16}};
      TokenizedExample e;
      e.context = {kSep, a, b};
      e.label = static_cast<int64_t>(task.size()) % 4;
      for (int64_t j = 0, wrong = 1; j < 4; ++j)
        e.options.push_back(candidates[j == e.label ? 0 : wrong++]);
      e.option_chars.assign(4, 2.0);
      task.push_back(e);
    }
  return task;
}

TEST(EvalSyntheticTask, ModelTrainedOnTheLanguageGetsEveryHeldOutExampleRight) {
  const auto task = held_out_task();
  ASSERT_EQ(task.size(), 16u);
  for (const std::string type : {"ar", "mdm"}) {
    ModelConfig mc;
    mc.layers = 2;
    mc.d_model = 64;
    mc.heads = 4;
    OptimizerConfig opt;
    opt.lr = 3e-3;
    opt.weight_decay = 0.0;
    const Transformer model(mc, kVocab, kSeqLen);
    auto comm = make_local_comm();
    auto sharding = make_sharding(ShardingOptions{}, model, opt, *comm);
    sharding->init(0);
    ObjectiveConfig oc;
    oc.type = *parse_choice<ObjectiveType>(type);
    const auto objective = make_objective(oc, model.mask_id());
    ScoreOptions so;
    so.samples = 16;
    const bool causal = objective->causal();

    const McMetrics before = evaluate_multiple_choice(model, sharding->full_flats(at::kFloat),
                                                      *objective, task, so, *comm);
    EXPECT_LT(before.acc, 1.0) << type << ": an untrained model must not pass";

    const int64_t steps = causal ? 300 : 600, rows = 16;
    ScheduleConfig schedule;
    schedule.warmup_steps = 20;
    for (int64_t s = 0; s < steps; ++s) {
      StepRequest request;
      request.windows = training_windows(rows, s);
      request.context = {1, s, s * rows, rows};
      request.micro_batch = rows;
      request.lr = learning_rate(schedule, opt, s, steps);
      request.grad_clip = 1.0;
      ASSERT_TRUE(train_step(*sharding, *objective, *comm, request).finite);
    }
    const McMetrics after = evaluate_multiple_choice(model, sharding->full_flats(at::kFloat),
                                                     *objective, task, so, *comm);
    std::printf("%s: acc %.3f -> %.3f, delta NLL %.3f -> %.3f, NLL right %.3f\n", type.c_str(),
                before.acc, after.acc, before.delta_nll, after.delta_nll, after.nll_right);
    EXPECT_EQ(after.examples, 16);
    EXPECT_EQ(after.acc, 1.0) << type;
    EXPECT_EQ(after.acc_norm, 1.0) << type;
    EXPECT_GT(after.delta_nll, 2.0) << type;
    EXPECT_LT(after.nll_right, 2 * std::log(2.0)) << type << ": the right answer is near certain";
  }
}

}  // namespace
}  // namespace crossover
