// Background checkpoints: what is written is the state at the copy, not later; nothing becomes
// the latest before every rank's part is on disk; a writer's error reaches the trainer; a
// checkpoint abandoned mid-flight leaves the previous one the latest.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "crossover/checkpoint/background_checkpoints.h"
#include "crossover/checkpoint/checkpointer.h"
#include "crossover/model/transformer.h"
#include "test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;

// Rank `rank` of a `world`-rank group whose collectives are the identity: the other ranks are
// played by the test (their checksums files, their flags in agree()).
class ViewComm final : public Comm {
 public:
  ViewComm(int rank, int world) : rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  std::string backend() const override { return "view"; }
  at::Device device() const override { return at::kCPU; }
  void all_reduce_sum(at::Tensor&) override {}
  void all_gather(const at::Tensor& shard, at::Tensor& full) override {
    full.copy_(shard.reshape(full.sizes()));
  }
  void reduce_scatter_sum(const at::Tensor& full, at::Tensor& shard) override {
    shard.copy_(full.reshape(shard.sizes()));
  }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}

 private:
  int rank_, world_;
};

struct Fixture {
  testing::TempDir dir;
  std::unique_ptr<Transformer> model;
  std::vector<at::Tensor> params, exp_avg, exp_avg_sq;  // the "training state", full

  Fixture() {
    ModelConfig mc;
    mc.layers = 1;
    mc.d_model = 32;
    mc.heads = 2;
    model = std::make_unique<Transformer>(mc, 40, 16);
    for (const auto& g : model->layout().groups) {
      params.push_back(at::randn({g.numel}));
      exp_avg.push_back(at::randn({g.numel}));
      exp_avg_sq.push_back(at::rand({g.numel}));
    }
  }
  std::function<void(CheckpointSnapshot&)> fill() {
    return [this](CheckpointSnapshot& s) {
      s.files = CheckpointSnapshot::Files::kFull;
      s.copy_from(params, exp_avg, exp_avg_sq);
    };
  }
  TrainState state(int64_t step) const {
    TrainState s;
    s.step = step;
    return s;
  }
  // Waits (at most 30 s) until `done`.
  static void wait_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    ASSERT_TRUE(done());
  }
};

TEST(BackgroundCheckpoints, WritesTheStateAtTheCopyWhileTrainingChangesIt) {
  Fixture f;
  auto comm = make_local_comm();
  Checkpointer ckpt(f.dir.path(), 2, *comm);
  BackgroundCheckpoints background(ckpt, *comm, f.model->layout());
  const at::Tensor at_copy = f.params[0].clone();
  background.start(10, f.state(10), f.fill());
  f.params[0].add_(1.0);  // the next update, while the files are written
  EXPECT_EQ(background.in_flight().value_or(-1), 10);
  background.finish();
  EXPECT_FALSE(background.in_flight());
  EXPECT_EQ(Checkpointer::find(f.dir.path()), ckpt.dir_for(10));
  const nlohmann::json state =
      Checkpointer::read_state(ckpt.dir_for(10));  // every checksum verifies
  EXPECT_EQ(state["step"], 10);
  const at::Tensor saved = read_checkpoint_range(ckpt.dir_for(10), state, f.model->layout(), 0,
                                                 "param", 0, at_copy.numel());
  EXPECT_TRUE(at::equal(saved, at_copy));
  const auto committed = background.take_committed();
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0].step, 10);
  EXPECT_EQ(committed[0].dir, ckpt.dir_for(10));
  EXPECT_TRUE(background.take_committed().empty());

  // The next one reuses the buffers and replaces `latest`.
  const float* buffer = nullptr;
  background.start(20, f.state(20), [&](CheckpointSnapshot& s) {
    const float* before = s.params.empty() ? nullptr : s.params[0].data_ptr<float>();
    f.fill()(s);
    buffer = s.params[0].data_ptr<float>() == before ? before : nullptr;
  });
  background.finish();
  EXPECT_NE(buffer, nullptr) << "the snapshot's buffers were allocated again";
  EXPECT_EQ(Checkpointer::find(f.dir.path()), ckpt.dir_for(20));
}

TEST(BackgroundCheckpoints, RankZeroCommitsOnlyOnceEveryRankReportsItsPartWritten) {
  Fixture f;
  ViewComm comm(0, 2);
  Checkpointer ckpt(f.dir.path(), 2, comm);
  BackgroundCheckpoints background(ckpt, comm, f.model->layout());
  background.start(10, f.state(10), f.fill());
  Fixture::wait_until([&] { return !background.writing(); });
  EXPECT_FALSE(background.failed());
  // This rank's part is on disk, rank 1's is not: nothing is the latest yet.
  EXPECT_TRUE(fs::exists(ckpt.dir_for(10) + ".tmp/checksums.rank0.json"));
  background.agree(/*ranks_writing=*/1, /*ranks_failed=*/0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(ckpt.latest());
  EXPECT_TRUE(background.take_committed().empty());
  // Rank 1's part lands (its files and its checksums) and the next step's agreement says so.
  testing::write_file(ckpt.dir_for(10) + ".tmp/checksums.rank1.json", "{}");
  background.agree(0, 0);
  Fixture::wait_until([&] { return ckpt.latest().has_value(); });
  EXPECT_EQ(*ckpt.latest(), ckpt.dir_for(10));
  background.finish();
  EXPECT_EQ(Checkpointer::read_state(ckpt.dir_for(10))["step"], 10);
  EXPECT_FALSE(fs::exists(ckpt.dir_for(10) + "/checksums.rank1.json"));
}

TEST(BackgroundCheckpoints, AnotherRanksFailureStopsThisRankAndKeepsThePreviousLatest) {
  Fixture f;
  ViewComm comm(0, 2);
  Checkpointer ckpt(f.dir.path(), 2, comm);
  BackgroundCheckpoints background(ckpt, comm, f.model->layout());
  background.start(10, f.state(10), f.fill());
  Fixture::wait_until([&] { return !background.writing(); });
  testing::write_file(ckpt.dir_for(10) + ".tmp/checksums.rank1.json", "{}");
  background.agree(0, 0);
  background.finish();
  background.start(20, f.state(20), f.fill());
  Fixture::wait_until([&] { return !background.writing(); });
  // Rank 1's writer failed: every rank raises it at the same agreement.
  const std::string error = testing::error_of([&] { background.agree(0, 1); });
  EXPECT_EQ(error, "checkpoint at step 20 (written in the background) failed: the write failed on "
                   "1 of 2 ranks (their train.log has why)");
  EXPECT_FALSE(fs::exists(ckpt.dir_for(20) + ".tmp")) << "rank 0 removes the partial directory";
  EXPECT_FALSE(fs::exists(ckpt.dir_for(20)));
  EXPECT_EQ(*ckpt.latest(), ckpt.dir_for(10));
  EXPECT_FALSE(background.in_flight());
}

TEST(BackgroundCheckpoints, ThisRanksWriteErrorReachesTheTrainerNamingTheFile) {
  Fixture f;
  auto comm = make_local_comm();
  Checkpointer ckpt(f.dir.path(), 2, *comm);
  BackgroundCheckpoints background(ckpt, *comm, f.model->layout());
  const std::string tmp = ckpt.dir_for(10) + ".tmp";
  background.start(10, f.state(10), [&](CheckpointSnapshot& s) {
    f.fill()(s);
    // The disk refuses the write: step_N.tmp is a file, so nothing can be created in it.
    fs::remove_all(tmp);
    testing::write_file(tmp, "not a directory");
  });
  Fixture::wait_until([&] { return background.failed(); });
  EXPECT_FALSE(background.writing());
  const std::string error = testing::error_of([&] { background.finish(); });
  EXPECT_EQ(error.rfind("checkpoint at step 10 (written in the background) failed: ", 0), 0u)
      << error;
  EXPECT_NE(error.find(tmp + "/model.safetensors"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(tmp));
  EXPECT_FALSE(ckpt.latest());
  EXPECT_FALSE(background.failed()) << "raised once";
}

TEST(BackgroundCheckpoints, AbandonedBeforeItsCommitLeavesThePreviousCheckpointTheLatest) {
  Fixture f;
  ViewComm comm(0, 2);
  Checkpointer ckpt(f.dir.path(), 2, comm);
  {
    BackgroundCheckpoints background(ckpt, comm, f.model->layout());
    background.start(10, f.state(10), f.fill());
    Fixture::wait_until([&] { return !background.writing(); });
    testing::write_file(ckpt.dir_for(10) + ".tmp/checksums.rank1.json", "{}");
    background.agree(0, 0);
    background.finish();
    background.start(20, f.state(20), f.fill());
    // The trainer stops with an error before the ranks agree: the destructor waits for the
    // part and commits nothing (no hang on the commit that will never be released).
  }
  EXPECT_EQ(*ckpt.latest(), ckpt.dir_for(10));
  EXPECT_TRUE(fs::exists(ckpt.dir_for(20) + ".tmp"));
  EXPECT_EQ(ckpt.remove_partial_writes(), std::vector<std::string>{ckpt.dir_for(20) + ".tmp"});
}

}  // namespace
}  // namespace crossover
