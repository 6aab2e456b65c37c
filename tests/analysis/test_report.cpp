// The report on synthetic metrics.jsonl files: the CSV tables, the crossings it finds per
// unique budget, and the R* fit it prints.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "crossover/analysis/fit.h"
#include "crossover/analysis/report.h"
#include "crossover/sweep/run_state.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

using nlohmann::json;
using testing::append_event;
using testing::end_event;

const char* kSweep = "base: base.yaml\ntotal_tokens: 1M\n"
                     "axes: {objective.type: [ar, mdm], data.unique_tokens: [100k, 1M]}\n";

json eval_event(int64_t step, double tokens, double unique, double loss,
                const json& tasks = json::object()) {
  return {{"kind", "eval"},
          {"step", step},
          {"tokens", tokens},
          {"unique_tokens", unique},
          {"epoch", tokens / unique},
          {"flops", 6e3 * tokens},
          {"val_loss", loss},
          {"val_loss_se", 0.001},
          {"val_ppl", std::exp(loss)},
          {"tasks", tasks}};
}

json task(double acc, double delta) {
  return {{"cloze",
           {{"acc", acc},
            {"acc_norm", acc + 0.01},
            {"nll_right", 2.0},
            {"nll_wrong", 2.0 + delta},
            {"delta_nll", delta},
            {"examples", 100}}}};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(SweepReport, FindsTheCrossoverPerUniqueBudget) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kSweep);
  const std::string runs = f.dir / "out/runs/";
  // u100k: AR flat at 3.05, MDM falling 0.1 per 100k tokens from 3.4: MDM overtakes at 450k
  // tokens = epoch 4.5. On the task MDM's accuracy passes AR's 0.5 at 300k tokens.
  // u1M: AR always 0.5 better, and MDM does not close the gap.
  for (int i = 1; i <= 10; ++i) {
    const double t = i * 1e5;
    append_event(runs + "ar-u100k", eval_event(i * 10, t, 1e5, 3.05, task(0.5, 0.1)));
    append_event(runs + "mdm-u100k",
                 eval_event(i * 10, t, 1e5, 3.5 - 0.1 * i, task(0.2 + 0.1 * i, 0.1 * i)));
    append_event(runs + "ar-u1M", eval_event(i * 10, t, 1e6, 3.0 - 0.01 * i));
    append_event(runs + "mdm-u1M", eval_event(i * 10, t, 1e6, 3.5 - 0.01 * i));
  }
  for (const char* p : {"ar-u100k", "mdm-u100k", "ar-u1M"})
    append_event(runs + p, end_event("finished", 100));

  const ReportFiles files = write_report(f.dir / "out");
  ASSERT_EQ(files.paths.size(),
            5u);  // summary.csv, curves.csv, crossovers.csv, best.csv, summary.md

  const auto crossings = lines_of(testing::read_file(f.dir / "out/report/crossovers.csv"));
  ASSERT_EQ(crossings.size(), 7u) << testing::read_file(f.dir / "out/report/crossovers.csv");
  EXPECT_EQ(crossings[0], "group,family,unique_tokens,task,metric,kind,tokens,epoch");
  EXPECT_EQ(crossings[1], "u100k,all,100000,,val_loss,mdm_overtakes,450000,4.5");
  // Beyond the noise (SE 0.001 each): AR leads by 0.05 at 400k, MDM by 0.05 from 500k on.
  EXPECT_EQ(crossings[2], "u100k,all,100000,,val_loss,resolved_from,400000,4");
  EXPECT_EQ(crossings[3], "u100k,all,100000,,val_loss,resolved_to,500000,5");
  EXPECT_EQ(crossings[4], "u100k,all,100000,cloze,acc,mdm_overtakes,300000,3");
  // 100 examples: a binomial SE near 0.05, so only AR's lead of 0.2 at 100k and MDM's of 0.2
  // and more from 500k count; the crossing of the means at 300k lies between.
  EXPECT_EQ(crossings[5], "u100k,all,100000,cloze,acc,resolved_from,100000,1");
  EXPECT_EQ(crossings[6], "u100k,all,100000,cloze,acc,resolved_to,500000,5");

  const std::string md = testing::read_file(f.dir / "out/report/summary.md");
  EXPECT_NE(md.find("MDM overtakes at 450.0k tokens (epoch 4.5)"), std::string::npos) << md;
  EXPECT_NE(md.find("MDM ahead, MDM 2.5000 vs AR 3.0500"), std::string::npos) << md;
  EXPECT_NE(md.find("no crossing between 100.0k and 1.00M tokens: AR ahead throughout"),
            std::string::npos)
      << md;
  // Parallel trends (both fall 0.01 per step) never close the gap.
  EXPECT_NE(md.find("run parallel"), std::string::npos) << md;
  EXPECT_NE(md.find("| u100k | 100.0k | 10.0 | 450.0k (epoch 4.5) / MDM / crossover in epochs "
                    "4.0-5.0 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("the crossover lies between 400.0k (epoch 4.0) and 500.0k tokens (epoch 5.0)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("Crossover beyond the noise: not resolved (AR leads beyond the noise at the "
                    "end)"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("MDM `mdm-u1M` (partial, step 100/"), std::string::npos) << md;
  EXPECT_NE(files.headline.find("u100k: val loss: MDM overtakes at 450.0k tokens"),
            std::string::npos)
      << files.headline;
  EXPECT_NE(files.headline.find("R* (ar, all)"), std::string::npos) << files.headline;

  const auto summary = lines_of(testing::read_file(f.dir / "out/report/summary.csv"));
  ASSERT_EQ(summary.size(), 5u);
  EXPECT_NE(summary[0].find("final_val_loss,final_val_loss_se,final_step"), std::string::npos);
  EXPECT_NE(summary[0].find("cloze.acc,cloze.acc_norm,cloze.delta_nll"), std::string::npos);
  // mdm-u100k: final = best = the last eval (2.5 at step 100, 1M tokens, epoch 10); the task's
  // final accuracy 1.2 (a synthetic number) and delta-NLL 1.
  // Rows in manifest order: ar-u100k, ar-u1M, mdm-u100k, mdm-u1M.
  EXPECT_EQ(summary[3].rfind("mdm-u100k,u100k,all,mdm,mdm,u100k,100000,1000000,10,,finished,", 0),
            0u)
      << summary[3];
  EXPECT_NE(summary[3].find(",2.5,0.001,100,1000000,10,2.5,100,1000000,10,1.2,1.21,1,2,3"),
            std::string::npos)
      << summary[3];
  // ar-u1M: the best is the last eval (falling); mdm-u1M is partial.
  EXPECT_NE(summary[2].find(",2.9,0.001,100,1000000,1,2.9,100,1000000,1,,,,,"), std::string::npos)
      << summary[2];
  EXPECT_NE(summary[4].find(",partial,"), std::string::npos) << summary[4];

  // curves.csv: one row per metric per eval (val_loss, se, ppl, and 6 task fields when present:
  // the binomial standard error of the accuracy among them).
  const auto curves = lines_of(testing::read_file(f.dir / "out/report/curves.csv"));
  EXPECT_EQ(curves[0], "point,group,family,objective,unique_tokens,step,tokens,epoch,flops,task,"
                       "metric,value");
  EXPECT_EQ(curves.size(), 1u + 2 * 10 * 9 + 2 * 10 * 3);
  EXPECT_NE(testing::read_file(f.dir / "out/report/curves.csv")
                .find("ar-u100k,u100k,all,ar,100000,10,100000,1,600000000,cloze,acc_se,0.05\n"),
            std::string::npos);
  EXPECT_EQ(curves[1], "ar-u100k,u100k,all,ar,100000,10,100000,1,600000000,,val_loss,3.05");
}

// eval_detail.jsonl: 10 windows whose losses are the eval's loss plus fixed offsets (so a
// paired difference is the same on every window), and a 20-example task on which the first
// `right` examples, plus those listed in `also`, are predicted right (label 0).
void append_detail(const std::string& run_dir, int64_t step, double loss, int right,
                   std::vector<int> also = {}) {
  json losses = json::array(), windows = json::array(), label = json::array(), pred = json::array();
  for (int i = 0; i < 10; ++i) windows.push_back(i), losses.push_back(loss + 0.1 * (i % 3));
  for (int i = 0; i < 20; ++i) {
    label.push_back(0);
    const bool ok = i < right || std::find(also.begin(), also.end(), i) != also.end();
    pred.push_back(ok ? 0 : 1 + i % 3);
  }
  std::ofstream(run_dir + "/eval_detail.jsonl", std::ios::app)
      << json{{"kind", "eval_detail"},
              {"step", step},
              {"val_windows", windows},
              {"val_window_loss", losses},
              {"tasks", {{"cloze", {{"label", label}, {"predicted", pred}}}}}}
             .dump()
      << "\n";
}

json cloze(double acc) {
  return {{"cloze",
           {{"acc", acc},
            {"acc_norm", acc},
            {"nll_right", 2.0},
            {"nll_wrong", 2.5},
            {"delta_nll", 0.5},
            {"examples", 20}}}};
}

// The best of each objective is its best annealed final over its total budgets (chosen on the
// lowest seed, the seeds at that total averaged), compared with Monte-Carlo, paired-window and
// across-seed errors, and the task with McNemar's test.
TEST(SweepReport, BestAgainstBestComparesAnnealedFinalsOverTotalsAndSeeds) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(
      "base: base.yaml\nset: {data.unique_tokens: 50k}\n"
      "axes:\n"
      "  objective.type: [ar, mdm]\n"
      "  data.total_tokens: [100k, 200k, 400k]\n"
      "  training.seed: [0, 1]\n"
      "only:\n"
      "  - {objective.type: ar, data.total_tokens: [100k, 200k], training.seed: 0}\n"
      "  - {objective.type: ar, data.total_tokens: 200k, training.seed: 1}\n"
      "  - {objective.type: mdm, data.total_tokens: [200k, 400k], training.seed: 0}\n"
      "  - {objective.type: mdm, data.total_tokens: 400k, training.seed: 1}\n");
  ASSERT_EQ(m.points.size(), 6u);
  const std::string runs = f.dir / "out/runs/";
  // One run: an early eval at 50k tokens, then one per 50k to its total, ending at `final`.
  auto run = [&](const std::string& name, double total, double early, double final, double acc,
                 int right, std::vector<int> also = {}) {
    for (double t = 50e3; t <= total; t += 50e3) {
      const double loss = t == 50e3 ? early : t == total ? final : final + 0.05;
      const int64_t step = static_cast<int64_t>(t / 1000);
      append_event(runs + name, eval_event(step, t, 5e4, loss, cloze(acc)));
      append_detail(runs + name, step, loss, right, also);
    }
    append_event(runs + name, end_event("finished", static_cast<int64_t>(total / 1000)));
  };
  run("ar-t100k-seed0", 100e3, 3.0, 3.2, 0.3, 6);
  run("ar-t200k-seed0", 200e3, 2.9, 3.1, 0.3, 6);  // chosen; its early 2.9 is the within-run best
  run("ar-t200k-seed1", 200e3, 3.0, 3.2, 0.3, 6);
  run("mdm-t200k-seed0", 200e3, 3.5, 3.0, 0.6, 4, {10, 11, 12, 13, 14, 15, 16, 17});
  run("mdm-t400k-seed0", 400e3, 3.5, 2.8, 0.6, 4, {10, 11, 12, 13, 14, 15, 16, 17});  // chosen
  run("mdm-t400k-seed1", 400e3, 3.5, 2.9, 0.6, 4, {10, 11, 12, 13, 14, 15, 16, 17});

  const ReportFiles files = write_report(f.dir / "out");
  const std::string md = testing::read_file(f.dir / "out/report/summary.md");
  EXPECT_NE(
      md.find("AR: best annealed final 3.1500 at 200.0k tokens (4 epochs), mean of 2 seeds "
              "(across-seed se 0.0500), Monte-Carlo se 0.0007; finals by total (lowest seed): "
              "100.0k 3.2000 200.0k 3.1000. Within-run best 2.9000 (ar-t200k-seed0 at 50.0k, "
              "epoch 1.0)"),
      std::string::npos)
      << md;
  EXPECT_NE(md.find("MDM: best annealed final 2.8500 at 400.0k tokens (8 epochs), mean of 2 seeds"),
            std::string::npos)
      << md;
  // se = sqrt(2 (0.001^2 / 2) + 2 0.05^2 + 0^2): the windows differ by the same amount each.
  const std::string line =
      "val loss, MDM best - AR best = -0.3000 ± 0.0707 (MDM lower beyond 2 standard errors; error "
      "terms: Monte-Carlo + paired windows (10 windows, bootstrap) + seeds (2 AR, 2 MDM))";
  EXPECT_NE(md.find(line), std::string::npos) << md;
  EXPECT_NE(files.headline.find(line), std::string::npos) << files.headline;
  EXPECT_NE(
      md.find("MDM from 200.0k tokens (4 epochs) to 400.0k tokens (8 epochs): val loss -0.2000 "
              "± 0.0014 (still improving beyond 2 standard errors"),
      std::string::npos)
      << md;
  // AR right on examples 0-5, MDM on 0-3 and 10-17: b = 2 (4, 5), c = 8; exact two-sided
  // p = 2 (1 + 10 + 45) / 2^10 = 0.109375; chi2 = (|2 - 8| - 1)^2 / 10 = 2.5.
  EXPECT_NE(md.find("cloze acc at these totals: AR 0.300 ± 0.102, MDM 0.600 ± 0.110"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("McNemar on the lowest seeds: 2 examples only AR gets right, 8 only MDM, exact "
                    "p = 0.109, continuity-corrected chi2 = 2.50 (p = 0.114)"),
            std::string::npos)
      << md;
  EXPECT_NE(
      md.find("Decision: supports: MDM's val loss (an upper bound) is below AR's beyond 2 SE"),
      std::string::npos)
      << md;
  const std::string csv = testing::read_file(f.dir / "out/report/best.csv");
  EXPECT_NE(csv.find("\nall,50000,ar,200000,4,2,3.15,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\nall,50000,mdm,400000,8,2,2.85,"), std::string::npos) << csv;
  // The group at 200k averages AR's two seeds in its curves.
  EXPECT_NE(md.find("Curves are means over seeds (AR 2, MDM 1)"), std::string::npos) << md;
}

TEST(SweepReport, FitsRStarPerObjectiveFromEvalEvents) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(
      "base: base.yaml\ntotal_tokens: 16M\n"
      "axes: {objective.type: [ar], data.unique_tokens: [0.5M, 1M, 2M, 16M]}\n");
  for (const auto& p : m.points)
    for (int i = 1; i <= 16; ++i) {
      const double d = 1e6 * i;
      const double u = static_cast<double>(p.unique_tokens);
      append_event(p.run_dir,
                   eval_event(i, d, u, 2.0 + 400.0 / std::pow(effective_data(d, u, 12.0), 0.35)));
    }
  const ReportFiles files = write_report(f.dir / "out");
  EXPECT_NE(files.headline.find("R* (ar, all) = 12 "), std::string::npos) << files.headline;
  // One total budget: the fit describes the trajectory and says so.
  EXPECT_NE(files.headline.find("fitted on the runs' trajectories (intermediate evals, under "
                                "fewer than 5 finished runs over 2 total budgets): a description, "
                                "not an estimate"),
            std::string::npos)
      << files.headline;
  const std::string md = testing::read_file(f.dir / "out/report/summary.md");
  EXPECT_NE(md.find("| ar | all | 12 |"), std::string::npos) << md;
  EXPECT_NE(md.find("No comparison: the group needs one `ar` and one `mdm` point."),
            std::string::npos);
}

// With a data.total_tokens axis the law is fitted, as Muennighoff et al. fit it, on the final
// losses of finished runs across budgets: intermediate evals (here 0.5 above the law, as before
// the learning rate anneals) do not enter it.
TEST(SweepReport, FitsRStarOnFinalLossesAcrossTotalBudgets) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir("base: base.yaml\n"
                                "axes: {objective.type: [ar], data.unique_tokens: [0.5M, 1M, 2M], "
                                "data.total_tokens: [2M, 4M, 8M, 16M]}\n");
  ASSERT_EQ(m.points.size(), 12u);
  auto law = [](double d, double u) {
    return 2.0 + 400.0 / std::pow(effective_data(d, u, 12.0), 0.35);
  };
  for (const auto& p : m.points) {
    const double u = static_cast<double>(p.unique_tokens),
                 total = static_cast<double>(p.total_tokens);
    for (int i = 1; i <= 4; ++i) {
      const double d = total * i / 4;
      append_event(p.run_dir, eval_event(i, d, u, law(d, u) + (i < 4 ? 0.5 : 0.0)));
    }
    append_event(p.run_dir, end_event("finished", 4));
  }
  const ReportFiles files = write_report(f.dir / "out");
  EXPECT_NE(files.headline.find("R* (ar, all) = 12 "), std::string::npos) << files.headline;
  EXPECT_NE(files.headline.find("fitted on final losses of 12 runs over 4 total budgets"),
            std::string::npos)
      << files.headline;
  const std::string md = testing::read_file(f.dir / "out/report/summary.md");
  EXPECT_NE(md.find("training budgets of 2.00M, 4.00M, 8.00M, 16.00M tokens"), std::string::npos)
      << md;
}

TEST(SweepReport, FitsTheBestLossSoFarSoOverfittingDoesNotBendTheLaw) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(
      "base: base.yaml\ntotal_tokens: 16M\n"
      "axes: {objective.type: [ar], data.unique_tokens: [0.5M, 2M, 16M]}\n");
  // After its 8th eval every run overfits: its loss climbs by 0.3 per eval. The fit must see
  // the running minimum, i.e. the law up to eval 8 and a flat line after it.
  std::vector<FitSample> expected;
  for (const auto& p : m.points) {
    const double u = static_cast<double>(p.unique_tokens);
    double best = 0;
    for (int i = 1; i <= 16; ++i) {
      const double d = 1e6 * i;
      const double law = 2.0 + 400.0 / std::pow(effective_data(d, u, 5.0), 0.35);
      if (i <= 8) best = law;
      append_event(p.run_dir, eval_event(i, d, u, i <= 8 ? law : best + 0.3 * (i - 8)));
      expected.push_back({d, u, best});
    }
  }
  const EffectiveDataFit want = fit_effective_data(expected);
  const ReportFiles files = write_report(f.dir / "out");
  EXPECT_NE(
      files.headline.find(fmt::format("R* (ar, all) = {:.3g} (E {:.3f}", want.r_star, want.E)),
      std::string::npos)
      << files.headline;
}

TEST(SweepFit, LossFloorIsNeverNegative) {
  // A pure power law in D (no floor) tempts unconstrained least squares into E < 0 when the
  // searched alpha is off; the fit keeps E >= 0 and recovers E = 0 and the exponent.
  std::vector<FitSample> s;
  for (int i = 1; i <= 20; ++i) s.push_back({1e5 * i, 1e7, 50.0 * std::pow(1e5 * i, -0.3)});
  const EffectiveDataFit fit = fit_effective_data(s);
  ASSERT_TRUE(fit.ok);
  EXPECT_GE(fit.E, 0.0);
  EXPECT_NEAR(fit.E, 0.0, 1e-3);
  EXPECT_NEAR(fit.alpha, 0.3, 0.01);
  EXPECT_GT(fit.r2, 0.999);
}

TEST(SweepRunState, ReadsTheLastEndEventAndToleratesTornLines) {
  testing::TempDir dir;
  const std::string run = dir / "run";
  EXPECT_EQ(read_run_state(run).status, RunStatus::not_started);
  append_event(run, {{"kind", "run"}, {"step", 0}, {"total_steps", 40}});
  append_event(run, {{"kind", "train"}, {"step", 10}, {"loss", 3.5}, {"epoch", 0.5}});
  EXPECT_EQ(read_run_state(run).status, RunStatus::partial);
  append_event(run, end_event("interrupted", 10));
  EXPECT_EQ(read_run_state(run).status, RunStatus::interrupted);
  // Resumed: events after the end mean it runs (or ran) again.
  append_event(run, {{"kind", "run"}, {"step", 10}, {"total_steps", 40}});
  append_event(run, {{"kind", "train"}, {"step", 20}, {"loss", 3.0}, {"epoch", 1.0}});
  auto s = read_run_state(run);
  EXPECT_EQ(s.status, RunStatus::partial);
  EXPECT_EQ(s.step, 20);
  EXPECT_EQ(s.total_steps, 40);
  EXPECT_DOUBLE_EQ(s.last_loss, 3.0);
  append_event(run, end_event("finished", 40));
  testing::write_file(run + "/metrics.jsonl",
                      testing::read_file(run + "/metrics.jsonl") + "{\"kind\":\"tra");
  s = read_run_state(run);
  EXPECT_EQ(s.status, RunStatus::finished);
  EXPECT_EQ(s.step, 40);
}

}  // namespace
}  // namespace crossover
