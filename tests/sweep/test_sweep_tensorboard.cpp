// `tensorboard --logdir SWEEP_DIR` overlays the points of a sweep: a real two-point sweep (AR and
// MDM) run by `crossover sweep run`, then read the way TensorBoard reads a log directory.
#include <gtest/gtest.h>

#include <filesystem>

#include "crossover/sweep/manifest.h"
#include "fixtures.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;

TEST(SweepTensorBoard, EveryPointIsARunNamedByItsRunDirectory) {
  testing::SweepFixture f;
  testing::make_data(f.dir);  // f.dir/data, the base config's data.path
  testing::write_file(f.dir / "base.yaml", "model: {layers: 2, d_model: 32, heads: 2}\n"
                                           "data: {path: data, seq_len: 32, unique_tokens: all}\n"
                                           "training: {global_batch: 8}\n"
                                           "eval: {every: 10, val_sequences: 8, mc_samples: 2}\n"
                                           "checkpoint: {every: 100}\n"
                                           "logging: {log_every: 1}\n"
                                           "hardware: {threads: 1, peak_tflops: 1}\n");
  f.sweep_file("base: base.yaml\ntotal_tokens: 5120\n"  // 20 steps of 256 tokens
               "axes: {objective.type: [ar, mdm], data.unique_tokens: [4k]}\n");
  auto r = testing::run_command("cd " + f.dir.path().string() + " && " + CROSSOVER_BINARY +
                                " sweep plan sweep.yaml --out out && " + CROSSOVER_BINARY +
                                " sweep run out --progress-every 0");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const Manifest m = read_manifest(f.dir / "out");
  ASSERT_EQ(m.points.size(), 2u);

  const std::string python = testing::venv_python();
  ASSERT_FALSE(python.empty());
  r = testing::run_command(python + " " + testing::source_path("tests/python/read_tensorboard.py") +
                           " " + (f.dir / "out") + " " + (f.dir / "tb.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto runs = nlohmann::json::parse(testing::read_file(f.dir / "tb.json"))["runs"];
  std::set<std::string> names, want;
  for (const auto& [name, run] : runs.items()) names.insert(name);
  for (const auto& p : m.points) want.insert("runs/" + p.name + "/tensorboard");
  EXPECT_EQ(names, want);  // one run per point, named by the point: ar-u4k, mdm-u4k
  for (const auto& p : m.points) {
    const auto& run = runs["runs/" + p.name + "/tensorboard"];
    // The same tags at the same steps for both objectives, so their curves overlay.
    ASSERT_TRUE(run["scalars"].contains("train/loss")) << p.name;
    EXPECT_EQ(run["scalars"]["train/loss"].size(), 20u) << p.name;
    EXPECT_EQ(run["scalars"]["train/loss"].back()[0], 20) << p.name;
    ASSERT_TRUE(run["scalars"].contains("eval/val_loss")) << p.name;
    EXPECT_EQ(run["scalars"]["eval/val_loss"].size(), 2u) << p.name;  // steps 10 and 20
  }
}

}  // namespace
}  // namespace crossover
