// Sweep files and plans: grid expansion, budgets, eval cadence, FLOPs, located errors and
// re-planning rules.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "crossover/config/config.h"
#include "crossover/model/flops.h"
#include "crossover/sweep/cost.h"
#include "crossover/sweep/manifest.h"
#include "crossover/sweep/plan.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::SweepFixture;

const char* kGrid = "description: a test grid\n"
                    "base: base.yaml\n"
                    "set: {training.seed: 3, eval: {val_sequences: 4}}\n"
                    "total_tokens: 1.2M\n"
                    "axes:\n"
                    "  objective.type: [ar, mdm]\n"
                    "  data.unique_tokens: [50k, 0.1M, 600k]\n"
                    "  model:\n"
                    "    small: {model.layers: 1}\n"
                    "    wide: {model.heads: 4, model.d_model: 128}\n"
                    "eval: {per_epoch: 1}\n";

std::string plan_error(SweepFixture& f, const std::string& text) {
  try {
    f.plan(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(SweepPlan, ExpandsTheGridWithBudgetsAndEpochs) {
  SweepFixture f;
  const SweepPlan plan = f.plan(kGrid);
  ASSERT_EQ(plan.points.size(), 2u * 3u * 2u);
  // The last axis varies fastest; names join the labels in axis order.
  EXPECT_EQ(plan.points[0].name, "ar-u50k-small");
  EXPECT_EQ(plan.points[1].name, "ar-u50k-wide");
  EXPECT_EQ(plan.points[2].name, "ar-u100k-small");
  EXPECT_EQ(plan.points[6].name, "mdm-u50k-small");
  EXPECT_EQ(plan.points[6].group, "u50k-small");
  EXPECT_EQ(plan.points[6].family, "small");
  for (const auto& p : plan.points) {
    EXPECT_EQ(p.total_tokens, 1'200'000);
    EXPECT_EQ(p.config.data.total_tokens.value(), 1'200'000);
    EXPECT_EQ(p.tokens_per_step, 512);
    EXPECT_EQ(p.steps, 1'200'000 / 512);
    EXPECT_DOUBLE_EQ(p.epochs, 1.2e6 / static_cast<double>(p.unique_tokens)) << p.name;
    EXPECT_EQ(p.config.training.seed, 3);  // `set` applies to every point
    EXPECT_EQ(p.config.eval.val_sequences, 4);
    EXPECT_EQ(to_string(p.config.objective.type), p.name.substr(0, p.name.find('-')));
  }
  EXPECT_EQ(plan.points[0].unique_tokens, 50'000);
  EXPECT_DOUBLE_EQ(plan.points[0].epochs, 24.0);
  EXPECT_DOUBLE_EQ(plan.points[4].epochs, 2.0);
  EXPECT_EQ(plan.points[0].config.model.layers, 1);
  EXPECT_EQ(plan.points[1].config.model.d_model, 128);  // preset keys in any order
  EXPECT_EQ(plan.points[1].config.model.heads, 4);
  // per_epoch: 1 -> one eval per epoch of each point's own subset.
  EXPECT_EQ(plan.points[0].config.eval.every, 50'000 / 512);
  EXPECT_EQ(plan.points[4].config.eval.every, 600'000 / 512);
  // No meta.json: the vocabulary and FLOPs are unknown, and said so.
  EXPECT_FALSE(plan.points[0].flops.has_value());
  EXPECT_NE(plan.data_note.find("meta.json"), std::string::npos);
}

TEST(SweepPlan, NestedBudgetsShareOneDocumentOrder) {
  SweepFixture f;
  const SweepPlan plan = f.plan(kGrid);
  for (const auto& p : plan.points) {
    EXPECT_EQ(p.config.data.order_seed, plan.points[0].config.data.order_seed);
    EXPECT_EQ(p.config.data.path, "data");
  }
  // A sweep that varies the order would compare subsets that are not nested: refused.
  const std::string err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes:\n"
                                        "  data.unique_tokens: [50k, 100k]\n"
                                        "  data.order_seed: [1, 2]\n");
  EXPECT_NE(err.find("data.order_seed"), std::string::npos) << err;
  EXPECT_NE(err.find("one document order"), std::string::npos) << err;
}

TEST(SweepPlan, WrittenConfigsLoadBackAndTheManifestDescribesThem) {
  SweepFixture f;
  f.write_meta(1000, 900'000, 100);
  const SweepPlan plan = f.plan(kGrid);
  const auto written = write_plan(plan, f.dir / "out");
  EXPECT_EQ(written.created.size(), plan.points.size());
  EXPECT_TRUE(written.kept.empty());
  EXPECT_TRUE(fs::exists(f.dir / "out/sweep.yaml"));
  EXPECT_EQ(testing::read_file(f.dir / "out/sweep.yaml"), kGrid);

  const Manifest m = read_manifest(f.dir / "out");
  ASSERT_EQ(m.points.size(), plan.points.size());
  EXPECT_EQ(m.total_tokens, 1'200'000);
  EXPECT_EQ(m.workdir, f.dir.path().string());
  EXPECT_EQ(m.axes, (std::vector<std::string>{"objective.type", "data.unique_tokens", "model"}));
  for (size_t i = 0; i < m.points.size(); ++i) {
    const auto& p = plan.points[i];
    const auto& mp = m.points[i];
    EXPECT_EQ(mp.index, static_cast<int>(i));
    EXPECT_EQ(mp.name, p.name);
    EXPECT_EQ(mp.run_dir, (f.dir.path() / "out/runs" / p.name).string());
    EXPECT_EQ(load_config(mp.config_path), p.config) << mp.config_path;
    EXPECT_EQ(mp.unique_tokens, p.unique_tokens);
    EXPECT_EQ(mp.steps, p.steps);
    EXPECT_EQ(mp.eval_every, p.config.eval.every);
    EXPECT_DOUBLE_EQ(mp.epochs, p.epochs);
    // FLOPs from flops.h with the vocabulary of meta.json.
    ASSERT_TRUE(p.flops.has_value());
    EXPECT_DOUBLE_EQ(mp.flops, training_flops_per_token(p.config.model, 1000, 64) *
                                   static_cast<double>(p.steps * 512));
    // The overrides replay to the same config.
    EXPECT_EQ(load_config(f.dir / "base.yaml", mp.overrides), p.config);
  }
  EXPECT_EQ(m.points[0].overrides.front(), "training.seed=3");
}

TEST(SweepPlan, AllUsesTheDataSizeFromMeta) {
  SweepFixture f;
  f.write_meta(500, 99'000, 1'000);  // stream = tokens + one eos per document
  const SweepPlan plan = f.plan(
      "base: base.yaml\ntotal_tokens: 1M\naxes: {data.unique_tokens: [50k, all]}\n"
      "eval: {per_epoch: 2}\n");
  ASSERT_EQ(plan.points.size(), 2u);
  EXPECT_EQ(plan.points[1].name, "uall");
  EXPECT_EQ(plan.points[1].unique_tokens, 100'000);
  EXPECT_DOUBLE_EQ(plan.points[1].epochs, 10.0);
  EXPECT_EQ(plan.points[1].config.eval.every, 100'000 / 512 / 2);
  // A budget larger than the data would silently be `all`: refused at its line.
  const std::string err = plan_error(
      f, "base: base.yaml\ntotal_tokens: 1M\naxes:\n  data.unique_tokens: [50k, 200k]\n");
  EXPECT_NE(err.find("sweep.yaml:4: data.unique_tokens: point u200k asks for 200000 unique "
                     "tokens but data holds 100000"),
            std::string::npos)
      << err;
}

TEST(SweepPlan, EvalScheduleTakesTheSmallestInterval) {
  SweepFixture f;
  auto every = [&](const std::string& eval) {
    return f
        .plan("base: base.yaml\ntotal_tokens: 1M\naxes: {data.unique_tokens: [500k]}\n"
              "eval: " +
              eval + "\n")
        .points[0]
        .config.eval.every;
  };
  EXPECT_EQ(every("{every_tokens: 100k}"), 100'000 / 512);
  EXPECT_EQ(every("{min_evals: 40}"), (1'000'000 / 512) / 40);
  EXPECT_EQ(every("{per_epoch: 1, min_evals: 40}"), (1'000'000 / 512) / 40);
  EXPECT_EQ(every("{per_epoch: 4, min_evals: 2}"), 500'000 / 512 / 4);
  EXPECT_EQ(every("{every_tokens: 1}"), 1);  // never 0 (which would mean "only at the end")
}

TEST(SweepPlan, ErrorsNameTheSweepFileLineAndKey) {
  SweepFixture f;
  const std::string file = (f.dir / "sweep.yaml");
  // A typo in an axis key.
  std::string err =
      plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes:\n  objective.tpye: [ar, mdm]\n");
  EXPECT_EQ(err, file + ":4: axes.objective.tpye: unknown run-config key (did you mean "
                        "objective.type?)");
  // A typo inside a preset, on its own line.
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes:\n  model:\n    big:\n"
                      "      model.layers: 4\n      model.dmodel: 512\n");
  EXPECT_NE(err.find(file + ":7: axes.model.big: model.dmodel: unknown run-config key"),
            std::string::npos)
      << err;
  // A bad value is caught by the run-config rules, located at the value's line.
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes:\n  objective.type:\n"
                      "    - ar\n    - diffusion\n");
  EXPECT_NE(err.find(file + ":6: objective.type: expected one of ar, mdm, got \"diffusion\""),
            std::string::npos)
      << err;
  // A cross-field rule broken by an axis value.
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes:\n  model.heads: [2, 3]\n");
  EXPECT_NE(err.find(file + ":4: model.heads: must divide model.d_model"), std::string::npos)
      << err;
  // Unknown top-level keys, the sweep's own values, reserved keys.
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxis: {}\n");
  EXPECT_EQ(err, file + ":3: axis: unknown key (did you mean axes?)");
  err = plan_error(f, "base: base.yaml\ntotal_tokens: lots\naxes: {objective.type: [ar]}\n");
  EXPECT_NE(err.find(file + ":2: total_tokens: expected a positive token count"), std::string::npos)
      << err;
  // The budget is total_tokens or a data.total_tokens axis, never both, and never in set:.
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes: {data.total_tokens: [1M]}\n");
  EXPECT_EQ(err,
            file +
                ":2: total_tokens: given twice: here and as the data.total_tokens axis; keep one");
  err = plan_error(f, "base: base.yaml\naxes: {objective.type: [ar]}\n");
  EXPECT_NE(err.find("total_tokens: missing"), std::string::npos) << err;
  err = plan_error(f, "base: base.yaml\naxes: {data.total_tokens: [1M, none]}\n");
  EXPECT_NE(err.find("data.total_tokens: expected a positive token count"), std::string::npos)
      << err;
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\nset: {data.total_tokens: 2M}\n"
                      "axes: {objective.type: [ar]}\n");
  EXPECT_NE(err.find("data.total_tokens: is set by total_tokens"), std::string::npos) << err;
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes: {objective.type: [ar]}\n"
                      "eval: {per_epochs: 1}\n");
  EXPECT_NE(err.find(file + ":4: eval.per_epochs: unknown key (did you mean per_epoch?)"),
            std::string::npos)
      << err;
  err = plan_error(f, "base: missing.yaml\ntotal_tokens: 1M\naxes: {objective.type: [ar]}\n");
  EXPECT_NE(err.find(file + ":1: base: cannot open run config"), std::string::npos) << err;
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes: {objective.type: [ar, ar]}\n");
  EXPECT_NE(err.find("appears twice"), std::string::npos) << err;
  err = plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes:\n  model.layers: [1, 2]\n"
                      "  size: {s: {model.layers: 3}}\n");
  EXPECT_NE(err.find("model.layers: is set by two axes"), std::string::npos) << err;
}

TEST(SweepPlan, ReplanningOnlyAddsPoints) {
  SweepFixture f;
  const std::string two = "base: base.yaml\ntotal_tokens: 1M\n"
                          "axes: {objective.type: [ar, mdm], data.unique_tokens: [50k]}\n";
  const std::string four = "base: base.yaml\ntotal_tokens: 1M\n"
                           "axes: {objective.type: [ar, mdm], data.unique_tokens: [50k, 100k]}\n";
  write_plan(f.plan(two), f.dir / "out");
  // A run in progress must survive a re-plan.
  testing::append_event(f.dir / "out/runs/ar-u50k", {{"kind", "run"}, {"step", 0}});
  const auto again = write_plan(f.plan(two), f.dir / "out");
  EXPECT_TRUE(again.created.empty());
  EXPECT_EQ(again.kept.size(), 2u);
  const auto more = write_plan(f.plan(four), f.dir / "out");
  EXPECT_EQ(more.created, (std::vector<std::string>{"ar-u100k", "mdm-u100k"}));
  EXPECT_EQ(more.kept, (std::vector<std::string>{"ar-u50k", "mdm-u50k"}));
  EXPECT_TRUE(fs::exists(f.dir / "out/runs/ar-u50k/metrics.jsonl"));
  EXPECT_EQ(read_manifest(f.dir / "out").points.size(), 4u);

  // A changed experiment is refused by point and key, and nothing is written.
  const std::string changed = "base: base.yaml\nset: {optimizer.lr: 1e-3}\ntotal_tokens: 1M\n"
                              "axes: {objective.type: [ar, mdm], data.unique_tokens: [50k, 100k, "
                              "200k]}\n";
  try {
    write_plan(f.plan(changed), f.dir / "out");
    FAIL() << "a changed config was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("point ar-u50k already exists with a different config "
                                         "(optimizer.lr)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_FALSE(fs::exists(f.dir / "out/runs/ar-u200k"));
  EXPECT_EQ(read_manifest(f.dir / "out").points.size(), 4u);
  // Dropping a planned point is refused too.
  EXPECT_THROW(write_plan(f.plan(two), f.dir / "out"), std::runtime_error);
  // A runtime key (threads) is not a change of the experiment.
  const std::string threads =
      "base: base.yaml\nset: {hardware.threads: 3}\ntotal_tokens: 1M\n"
      "axes: {objective.type: [ar, mdm], data.unique_tokens: [50k, 100k]}\n";
  EXPECT_NO_THROW(write_plan(f.plan(threads), f.dir / "out"));
}

// Seeds and total budgets are ordinary axes; `only:` keeps part of the grid, so each objective
// can have its own budgets and seeds. Seeds stay in one group (their runs are averaged).
TEST(SweepPlan, OnlyKeepsPartOfAGridOfTotalsAndSeeds) {
  SweepFixture f;
  const SweepPlan plan = f.plan(
      "base: base.yaml\n"
      "axes:\n"
      "  objective.type: [ar, mdm]\n"
      "  data.total_tokens: [100k, 200k, 2M]\n"
      "  training.seed: [0, 1]\n"
      "only:\n"
      "  - {objective.type: ar, data.total_tokens: [100k, 200k], training.seed: 0}\n"
      "  - {objective.type: ar, data.total_tokens: 200k}\n"
      "  - {objective.type: mdm, data.total_tokens: t2M}\n");
  std::vector<std::string> names;
  for (const auto& p : plan.points) names.push_back(p.name);
  EXPECT_EQ(names, (std::vector<std::string>{"ar-t100k-seed0", "ar-t200k-seed0", "ar-t200k-seed1",
                                             "mdm-t2M-seed0", "mdm-t2M-seed1"}));
  EXPECT_EQ(plan.points[2].config.training.seed, 1);
  EXPECT_EQ(plan.points[2].total_tokens, 200'000);
  EXPECT_EQ(plan.points[2].group, "t200k");
  EXPECT_EQ(plan.points[4].group, "t2M");
  EXPECT_EQ(plan.points[4].family, "all");
  EXPECT_NE(plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes: {training.seed: [0, 1]}\n"
                          "only: [{training.seed: 2}]\n")
                .find("sweep.yaml:4: only.training.seed: \"2\" is not one of the axis' values"),
            std::string::npos);
  EXPECT_NE(plan_error(f, "base: base.yaml\ntotal_tokens: 1M\naxes: {training.seed: [0, 1]}\n"
                          "only: [{training.sed: 1}]\n")
                .find("only.training.sed: not an axis of this sweep (did you mean training.seed?)"),
            std::string::npos);
}

// MDM's option scores are estimates: sweeps score them with at least 64 samples per option,
// unless the sweep file sets eval.task_samples itself.
TEST(SweepPlan, TaskSamplesAreAtLeast64UnlessTheSweepSetsThem) {
  SweepFixture f;
  const SweepPlan low = f.plan("base: base.yaml\ntotal_tokens: 1M\nset: {eval.mc_samples: 4}\n"
                               "axes: {objective.type: [ar, mdm]}\n");
  for (const auto& p : low.points) EXPECT_EQ(p.config.eval.task_samples, 128);  // the default
  f.sweep_file("model: {layers: 2, d_model: 64, heads: 2}\n"
               "data: {path: data, seq_len: 64, total_tokens: 1M}\n"
               "training: {global_batch: 8}\neval: {task_samples: 8}\n",
               "base8.yaml");
  const SweepPlan raised =
      f.plan("base: base8.yaml\ntotal_tokens: 1M\naxes: {objective.type: [ar, mdm]}\n");
  for (const auto& p : raised.points) EXPECT_EQ(p.config.eval.task_samples, kSweepTaskSamples);
  const SweepPlan kept = f.plan("base: base8.yaml\ntotal_tokens: 1M\nset: {eval.task_samples: 16}\n"
                                "axes: {objective.type: [ar, mdm]}\n");
  for (const auto& p : kept.points) EXPECT_EQ(p.config.eval.task_samples, 16);
}

TEST(SweepPlan, CompactTokenLabels) {
  EXPECT_EQ(compact_tokens(500'000'000), "0.5B");
  EXPECT_EQ(compact_tokens(96'000'000'000), "96B");
  EXPECT_EQ(compact_tokens(1'500'000'000), "1.5B");
  EXPECT_EQ(compact_tokens(1'200'000), "1.2M");
  EXPECT_EQ(compact_tokens(50'000), "50k");
  EXPECT_EQ(compact_tokens(999), "999");
}

TEST(SweepPlan, PaperSweepPlans) {
  // The shipped 1B sweep resolves: 2 objectives x 5 budgets at 96B tokens each.
  const SweepFile s = load_sweep(testing::source_path("configs/sweeps/paper-1b.yaml"));
  const SweepPlan plan = plan_sweep(s, testing::source_path(""));
  ASSERT_EQ(plan.points.size(), 10u);
  for (const auto& p : plan.points) {
    EXPECT_EQ(p.total_tokens, 96'000'000'000);
    EXPECT_EQ(p.config.model.layers, 26);
    EXPECT_EQ(p.config.model.d_model, 1792);
    EXPECT_EQ(p.config.model.heads, 14);
    EXPECT_EQ(p.config.model.ffn_hidden, 4736);
    EXPECT_EQ(p.tokens_per_step, 256 * 2048);
  }
  EXPECT_EQ(plan.points[0].name, "ar-u0.5B-1b");
  EXPECT_DOUBLE_EQ(plan.points[0].epochs, 192.0);
  EXPECT_EQ(plan.points[9].name, "mdm-u96B-1b");
  EXPECT_DOUBLE_EQ(plan.points[9].epochs, 1.0);
}

// The headline experiment's sweep files plan as README describes them: its AR and MDM points
// differ only in objective.type, and the noise ablations are AR at 10k unique tokens.
TEST(SweepPlan, HeadlineSweepsPlan) {
  const auto plan_of = [](const std::string& name) {
    return plan_sweep(load_sweep(testing::source_path("configs/sweeps/" + name)),
                      testing::source_path(""));
  };
  const SweepPlan main = plan_of("kjv-headline.yaml");
  ASSERT_EQ(main.points.size(), 4u);
  for (const auto& p : main.points) {
    EXPECT_EQ(p.total_tokens, 6'000'000);
    EXPECT_EQ(p.config.eval.log_points, 16);
    EXPECT_TRUE(p.config.optimizer.decay_embeddings);
    EXPECT_DOUBLE_EQ(p.config.objective.random_length_prob, 0.01);
  }
  RunConfig ar = main.points[0].config, mdm = main.points[2].config;
  EXPECT_EQ(main.points[0].name, "ar-u10k");
  EXPECT_EQ(main.points[2].name, "mdm-u10k");
  ar.objective = ar.objective.with_type(ObjectiveType::kMdm);
  EXPECT_TRUE(ar == mdm);
  const SweepPlan d256 = plan_of("kjv-headline-d256.yaml");
  ASSERT_EQ(d256.points.size(), 2u);
  EXPECT_EQ(d256.points[0].config.model.d_model, 256);
  EXPECT_EQ(d256.points[0].config.eval.log_points, 0);  // as it ran
  const SweepPlan noise = plan_of("kjv-headline-ar-noise.yaml");
  ASSERT_EQ(noise.points.size(), 2u);
  EXPECT_DOUBLE_EQ(noise.points[0].config.model.dropout, 0.1);
  EXPECT_DOUBLE_EQ(noise.points[1].config.objective.ar_input_mask_prob, 0.1);
  for (const auto& p : noise.points) EXPECT_EQ(p.config.objective.type, ObjectiveType::kAr);
}

// The regime experiment: AR at 4-32 epochs and MDM at 80 and 240 on 200k unique tokens, each
// total its own run, the seeds the sweep file names, every validation window.
TEST(SweepPlan, RegimeSweepPlans) {
  const SweepPlan plan = plan_sweep(
      load_sweep(testing::source_path("configs/sweeps/kjv-regime.yaml")), testing::source_path(""));
  std::vector<std::string> names;
  for (const auto& p : plan.points) names.push_back(p.name);
  EXPECT_EQ(names,
            (std::vector<std::string>{"mdm-t48M-seed0", "mdm-t16M-seed0", "mdm-t16M-seed1",
                                      "ar-t6.4M-seed0", "ar-t3.2M-seed0", "ar-t3.2M-seed1",
                                      "ar-t1.6M-seed0", "ar-t1.6M-seed1", "ar-t800k-seed0"}));
  for (const auto& p : plan.points) {
    EXPECT_EQ(p.unique_tokens, 200'000);
    EXPECT_EQ(p.config.schedule.warmup_steps, 50);
    EXPECT_EQ(p.config.eval.val_sequences, 0);
    EXPECT_EQ(p.config.eval.task_samples, 64);
    EXPECT_EQ(p.config.model.d_model, 128);
    EXPECT_EQ(p.config.model.layers, 4);
    EXPECT_EQ(p.family, "all");
  }
  EXPECT_DOUBLE_EQ(plan.points[0].epochs, 240.0);
  EXPECT_DOUBLE_EQ(plan.points[1].epochs, 80.0);
  EXPECT_DOUBLE_EQ(plan.points[8].epochs, 4.0);
  EXPECT_EQ(plan.points[2].config.training.seed, 1);
  RunConfig ar = plan.points[4].config, mdm = plan.points[1].config;  // seed 0 each
  ar.objective = ar.objective.with_type(ObjectiveType::kMdm);
  ar.data.total_tokens = mdm.data.total_tokens;
  ar.eval.every = mdm.eval.every;
  EXPECT_TRUE(ar == mdm);  // the objective and the budget are all that differ
}

}  // namespace
}  // namespace crossover

namespace crossover {
namespace {

TEST(SweepCost, GpuHoursAreTheFlopsOverThePeakAtTheStatedMfu) {
  testing::SweepFixture f;
  f.write_meta(1000, 900'000, 100);  // a known vocabulary: FLOPs are known
  const SweepPlan plan = f.plan(kGrid);
  const SweepCost cost = sweep_cost(plan, {"H100", 0.5});
  EXPECT_DOUBLE_EQ(cost.peak_tflops, 989.4);
  ASSERT_EQ(cost.gpu_hours.size(), plan.points.size());
  double total = 0;
  for (size_t i = 0; i < plan.points.size(); ++i) {
    ASSERT_TRUE(plan.points[i].flops && cost.gpu_hours[i]) << plan.points[i].name;
    const double want = *plan.points[i].flops / (989.4e12 * 0.5 * 3600.0);
    EXPECT_NEAR(*cost.gpu_hours[i], want, 1e-12 * want);
    total += want;
  }
  EXPECT_NEAR(cost.total_gpu_hours, total, 1e-12 * total);
  EXPECT_EQ(cost.unknown, 0);
  // Twice the MFU, half the time; a B200's peak is 2250 TFLOP/s.
  EXPECT_NEAR(sweep_cost(plan, {"H100", 1.0}).total_gpu_hours, total / 2, 1e-12 * total);
  EXPECT_NEAR(sweep_cost(plan, {"B200", 0.5}).total_gpu_hours, total * 989.4 / 2250.0,
              1e-9 * total);
  try {
    sweep_cost(plan, {"TPU", 0.4});
    ADD_FAILURE() << "an unknown GPU must be refused";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--gpu: TPU is not in the table"), std::string::npos);
  }
  EXPECT_THROW(sweep_cost(plan, {"H100", 0.0}), std::invalid_argument);
  EXPECT_THROW(sweep_cost(plan, {"H100", 1.5}), std::invalid_argument);
}

// --mfu-from: the lowest MFU that `crossover bench train` measured on a GPU, from its saved output.
TEST(SweepCost, MeasuredMfuIsTheLowestGpuResultOfABenchLog) {
  testing::SweepFixture f;
  const std::string log = f.dir / "bench.log";
  std::ofstream(log) << "MFU reference: 989400.0 GFLOP/s (table: NVIDIA H100)\n"
                        "obj      tokens/s ...\n"
                        "ar    41000 ...\n"
                        R"({"objective":"ar","mfu":0.452,"device":"cuda:0","sharding":"fsdp"})"
                        "\n"
                        R"({"objective":"mdm","mfu":0.431,"device":"cuda:0","sharding":"fsdp"})"
                        "\n";
  const auto [mfu, source] = measured_mfu(log);
  EXPECT_DOUBLE_EQ(mfu, 0.431);
  EXPECT_NE(source.find("ar fsdp 45.2%, mdm fsdp 43.1%"), std::string::npos) << source;

  const std::string cpu = f.dir / "cpu.log";
  std::ofstream(cpu) << R"({"objective":"ar","mfu":0.6,"device":"cpu","sharding":"none"})"
                        "\n";
  try {
    measured_mfu(cpu);
    ADD_FAILURE() << "a CPU bench must not price GPU hours";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("measured on the CPU"), std::string::npos) << e.what();
  }
  EXPECT_THROW(measured_mfu(f.dir / "missing.log"), std::runtime_error);
}

}  // namespace
}  // namespace crossover
