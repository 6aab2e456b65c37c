// ddp reduces its gradient buckets whenever a process group exists, also at world size 1 (one
// GPU checking the NCCL path runs the same collectives as a cluster); only the one-process
// LocalComm, which has no process group, skips them.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <memory>

#include "crossover/comm/comm.h"
#include "crossover/distributed/sharding.h"
#include "crossover/objective/objective.h"

namespace crossover {
namespace {

// A process group of one rank: collectives are the identity, each all-reduce is counted.
class CountingComm final : public Comm {
 public:
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  std::string backend() const override { return "counting"; }
  at::Device device() const override { return at::kCPU; }
  void all_reduce_sum(at::Tensor& t) override {
    ++all_reduces;
    elements += t.numel();
  }
  void all_gather(const at::Tensor& shard, at::Tensor& full) override {
    full.copy_(shard.reshape(full.sizes()));
  }
  void reduce_scatter_sum(const at::Tensor& full, at::Tensor& shard) override {
    shard.copy_(full.reshape(shard.sizes()));
  }
  void broadcast(at::Tensor&, int) override {}
  void barrier() override {}
  int all_reduces = 0;
  int64_t elements = 0;
};

struct DdpStep {
  ModelConfig model;
  OptimizerConfig opt;
  std::unique_ptr<Transformer> transformer;

  DdpStep() {
    model.layers = 2;
    model.d_model = 32;
    model.heads = 2;
    transformer = std::make_unique<Transformer>(model, 64, 16);
  }
  // One forward, backward and gradient reduction with ddp over `comm`; the summed loss.
  void run(Comm& comm, int64_t bucket_bytes) {
    ShardingOptions so;
    so.kind = ShardingKind::kDdp;
    so.bucket_bytes = bucket_bytes;
    auto sharding = make_sharding(so, *transformer, opt, comm);
    sharding->init(0);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
    const at::Tensor windows = at::randint(4, 64, {2, 17}, gen, at::kLong);
    const auto obj = make_objective(ObjectiveConfig{}, transformer->mask_id());
    sharding->optimizer().zero_grads();
    sharding->forward_backward(obj->make_batch(windows, {0, 0, 0, 2}), true);
    sharding->reduce_gradients();
  }
};

TEST(DdpBuckets, AProcessGroupOfOneRankReducesEveryGradientOnce) {
  DdpStep s;
  const int64_t params = s.transformer->layout().total_numel();
  for (const int64_t bucket_bytes : {int64_t{1} << 30, int64_t{4096}}) {
    CountingComm comm;
    s.run(comm, bucket_bytes);
    EXPECT_EQ(comm.elements, params) << "bucket_bytes " << bucket_bytes;
    EXPECT_GE(comm.all_reduces, 1);
    if (bucket_bytes == 4096) EXPECT_GT(comm.all_reduces, 2);  // many buckets
  }
  EXPECT_TRUE(CountingComm().has_process_group());
  EXPECT_FALSE(make_local_comm()->has_process_group());  // the one case without reductions
}

}  // namespace
}  // namespace crossover
