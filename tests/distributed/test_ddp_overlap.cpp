// ddp with distributed.overlap_grad_reduce starts each gradient bucket's all-reduce in the
// backward of the step's last micro-batch, last block first. It must compute the same sums as the
// buckets reduced after the backward: on 2 Gloo ranks (two threads of this process, each with its
// own process group over 127.0.0.1), the same losses, reduced gradients and parameters, bit for
// bit, whatever the recompute, tying, reduction dtype and bucket size. bf16 compute runs on CUDA
// only: there the check runs on a one-rank NCCL process group (skipped without a GPU).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <array>
#include <exception>
#include <functional>
#include <memory>
#include <thread>

#include "crossover/comm/comm.h"
#include "crossover/comm/launch.h"
#include "crossover/config/device.h"
#include "crossover/distributed/sharding.h"
#include "crossover/objective/objective.h"
#include "test_util.h"

namespace crossover {
namespace {

struct Variant {
  std::string name;
  at::ScalarType compute = at::kFloat;
  bool recompute = false;
  bool tied = true;
  at::ScalarType reduce = at::kFloat;
  int64_t bucket_bytes = 1;  // 1: every group alone; else two groups a bucket
};

struct Outcome {
  std::vector<double> losses;           // per step, this rank's
  std::vector<at::Tensor> grads;        // the last step's reduced gradients
  std::vector<at::Tensor> params;       // after the last step
  std::vector<int64_t> launched_in_fb;  // all-reduces started inside each step's micro-batches
  std::vector<int64_t> launched;        // all-reduces started in each step
};

constexpr int kSteps = 3, kMicroBatches = 2, kRows = 2;

ModelConfig tiny_model(bool tied) {
  ModelConfig m;
  m.layers = 3;
  m.d_model = 32;
  m.heads = 2;
  m.tie_embeddings = tied;
  return m;
}

// Forwards every collective to `inner`; counts the async all-reduces and their sizes.
class CountingComm final : public Comm {
 public:
  explicit CountingComm(Comm& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  std::string backend() const override { return inner_.backend(); }
  bool has_process_group() const override { return inner_.has_process_group(); }
  at::Device device() const override { return inner_.device(); }
  using Comm::all_reduce_sum;
  void all_reduce_sum(at::Tensor& t) override { all_reduce_sum_async(t)->wait(); }
  std::unique_ptr<Pending> all_reduce_sum_async(at::Tensor& t) override {
    sizes.push_back(t.numel());
    if (on_start) on_start();
    return inner_.all_reduce_sum_async(t);
  }
  void all_gather(const at::Tensor& s, at::Tensor& f) override { inner_.all_gather(s, f); }
  void reduce_scatter_sum(const at::Tensor& f, at::Tensor& s) override {
    inner_.reduce_scatter_sum(f, s);
  }
  void broadcast(at::Tensor& t, int root) override { inner_.broadcast(t, root); }
  void barrier() override { inner_.barrier(); }
  std::vector<int64_t> sizes;
  std::function<void()> on_start;  // called as each all-reduce starts

 private:
  Comm& inner_;
};

// kSteps ddp steps of kMicroBatches micro-batches on this rank's rows.
Outcome train(Comm& comm, const Variant& v, bool overlap) {
  const at::Device device = comm.device();
  const Transformer model(tiny_model(v.tied), 64, 16);
  ShardingOptions so;
  so.kind = ShardingKind::kDdp;
  so.device = device;
  so.compute_dtype = v.compute;
  so.recompute = v.recompute;
  so.reduce_dtype = v.reduce;
  so.bucket_bytes = v.bucket_bytes;
  so.overlap_grad_reduce = overlap;
  CountingComm counting(comm);
  auto sharding = make_sharding(so, model, OptimizerConfig{}, counting);
  sharding->init(0);
  const auto objective = make_objective(ObjectiveConfig{}, model.mask_id());
  const int64_t global_batch = comm.world_size() * kMicroBatches * kRows;
  Outcome out;
  for (int step = 0; step < kSteps; ++step) {
    sharding->optimizer().zero_grads();
    double loss = 0;
    const size_t before = counting.sizes.size();
    for (int m = 0; m < kMicroBatches; ++m) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(100 * step + 10 * comm.rank() + m);
      const at::Tensor windows = at::randint(4, 64, {kRows, 17}, gen, at::kLong);
      StepContext ctx;
      ctx.step = step;
      ctx.global_row0 = step * global_batch + (comm.rank() * kMicroBatches + m) * kRows;
      ctx.global_batch = global_batch;
      loss += sharding
                  ->forward_backward(objective->make_batch(windows, ctx), m + 1 == kMicroBatches)
                  .item<double>();
    }
    out.launched_in_fb.push_back(static_cast<int64_t>(counting.sizes.size() - before));
    sharding->reduce_gradients();
    out.launched.push_back(static_cast<int64_t>(counting.sizes.size() - before));
    out.losses.push_back(loss);
    if (step + 1 == kSteps)
      for (const auto& s : sharding->optimizer().slots()) out.grads.push_back(s.grad.clone());
    sharding->optimizer().step(1e-2);
  }
  out.params = sharding->full_flats(at::kFloat);
  return out;
}

// Buckets of 1.5 blocks: {block 3, block 2} and {block 1, embedding group}.
int64_t two_groups() { return Transformer(tiny_model(true), 64, 16).layout().groups[1].numel * 6; }

// Recompute none and full, tied and untied, in `compute`; buckets of one group or of two.
std::vector<Variant> variants(at::ScalarType compute) {
  std::vector<Variant> out;
  for (const bool recompute : {false, true})
    for (const bool tied : {true, false}) {
      Variant v;
      v.name = std::string(compute == at::kFloat ? "fp32" : "bf16") + " compute, recompute " +
               (recompute ? "full" : "none") + (tied ? ", tied" : ", untied");
      v.compute = compute;
      v.recompute = recompute;
      v.tied = tied;
      v.bucket_bytes = out.size() % 2 ? 1 : two_groups();
      out.push_back(v);
    }
  return out;
}

// The overlap off and on agree on one rank: losses, reduced gradients and parameters bit for bit,
// and the same all-reduces. Without the overlap none starts inside forward_backward; with it,
// every one does (the embedding group's, final last, at the very end of the backward).
void expect_same_steps(const Outcome& off, const Outcome& on, const Variant& v, int rank) {
  const int64_t groups = tiny_model(true).layers + 1;
  EXPECT_EQ(on.losses, off.losses) << "rank " << rank;
  ASSERT_EQ(on.grads.size(), static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    EXPECT_TRUE(at::equal(on.grads[g], off.grads[g])) << "rank " << rank << " group " << g;
    EXPECT_TRUE(at::equal(on.params[g], off.params[g])) << "rank " << rank << " group " << g;
  }
  EXPECT_EQ(off.launched, on.launched) << "rank " << rank;
  EXPECT_EQ(off.launched_in_fb, std::vector<int64_t>(kSteps, 0)) << "rank " << rank;
  EXPECT_EQ(on.launched_in_fb, on.launched) << "rank " << rank;
  EXPECT_EQ(on.launched[0], v.bucket_bytes == 1 ? groups : 2) << "rank " << rank;
}

TEST(DdpOverlap, TwoGlooRanksComputeTheSameStepsWithTheOverlapOnAndOff) {
  auto vs = variants(at::kFloat);
  for (const int64_t bucket_bytes : {int64_t{1}, two_groups()}) {
    Variant v;
    v.name = "bf16 reduction, bucket " + std::to_string(bucket_bytes) + " bytes";
    v.reduce = at::kBFloat16;
    v.bucket_bytes = bucket_bytes;
    vs.push_back(v);
  }
  // outcome[rank][variant][overlap]
  std::vector<std::vector<std::array<Outcome, 2>>> outcome(2);
  std::vector<std::exception_ptr> errors(2);
  const int port = testing::free_port();
  std::vector<std::thread> ranks;
  for (int r = 0; r < 2; ++r)
    ranks.emplace_back([&, r] {
      try {
        DistEnv env;
        env.rank = r;
        env.world_size = 2;
        env.master_port = port;
        DistributedConfig dc;
        dc.timeout_s = 60;
        auto comm = init_distributed(env, dc, at::kCPU);
        for (const auto& v : vs)
          outcome[r].push_back({train(*comm, v, false), train(*comm, v, true)});
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : ranks) t.join();
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);

  for (size_t i = 0; i < vs.size(); ++i) {
    SCOPED_TRACE(vs[i].name);
    for (int r = 0; r < 2; ++r) {
      expect_same_steps(outcome[r][i][0], outcome[r][i][1], vs[i], r);
      // The ranks agree: each holds the sum of both ranks' gradients.
      for (size_t g = 0; g < outcome[r][i][1].grads.size(); ++g)
        EXPECT_TRUE(at::equal(outcome[r][i][1].grads[g], outcome[1 - r][i][1].grads[g]))
            << "group " << g;
    }
    EXPECT_NE(outcome[0][i][1].losses, outcome[1][i][1].losses);  // different rows
  }
}

// bf16 compute (CUDA only): a group's bf16 copy is made by its tap, whose backward adds the bf16
// gradient into the fp32 buffer. One rank over NCCL: the all-reduces are real NCCL calls on
// NCCL's stream, waited for by the compute stream.
TEST(DdpOverlap, Bf16ComputeOnCudaGivesTheSameStepsWithTheOverlapOnAndOff) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device";
  const at::Device cuda(at::kCUDA, 0);
  make_current(cuda);
  DistEnv env;
  env.master_port = testing::free_port();
  DistributedConfig dc;
  dc.process_group = ProcessGroupMode::kAlways;
  dc.timeout_s = 60;
  auto comm = init_distributed(env, dc, cuda);
  for (const auto& v : variants(at::kBFloat16)) {
    SCOPED_TRACE(v.name);
    const Outcome off = train(*comm, v, false);
    expect_same_steps(off, train(*comm, v, true), v, 0);
  }
}

// The buckets run from the last block down to the embedding group, the order backward finishes
// the groups in. With the overlap, the last block's all-reduce starts while backward has yet to
// reach the embedding group (its gradient still zero); without it, after the whole backward.
TEST(DdpOverlap, BucketsFollowTheBackwardFromTheLastBlockDown) {
  const Transformer model(tiny_model(true), 64, 16);
  const auto& layout = model.layout().groups;
  ASSERT_EQ(layout.size(), 4u);
  for (const bool overlap : {false, true}) {
    // A process group of one rank: Gloo at world size 1.
    DistEnv env;
    env.master_port = testing::free_port();
    DistributedConfig dc;
    dc.process_group = ProcessGroupMode::kAlways;
    dc.timeout_s = 30;
    auto comm = init_distributed(env, dc, at::kCPU);
    CountingComm counting(*comm);
    ShardingOptions so;
    so.kind = ShardingKind::kDdp;
    so.bucket_bytes = 1;
    so.overlap_grad_reduce = overlap;
    auto sharding = make_sharding(so, model, OptimizerConfig{}, counting);
    sharding->init(0);
    std::vector<bool> embedding_grad_done;  // at each start
    counting.on_start = [&] {
      embedding_grad_done.push_back(sharding->optimizer().slots()[0].grad.ne(0).any().item<bool>());
    };
    const auto objective = make_objective(ObjectiveConfig{}, model.mask_id());
    auto gen = at::make_generator<at::CPUGeneratorImpl>(3);
    sharding->optimizer().zero_grads();
    sharding->forward_backward(
        objective->make_batch(at::randint(4, 64, {2, 17}, gen, at::kLong), StepContext{}), true);
    sharding->reduce_gradients();
    EXPECT_EQ(counting.sizes, (std::vector<int64_t>{layout[3].numel, layout[2].numel,
                                                    layout[1].numel, layout[0].numel}))
        << "overlap " << overlap;
    EXPECT_EQ(embedding_grad_done, (std::vector<bool>{!overlap, !overlap, !overlap, true}))
        << "overlap " << overlap;
  }
}

}  // namespace
}  // namespace crossover
