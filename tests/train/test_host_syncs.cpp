// Host syncs in a training step: the check that catches them (LibTorch's CUDA sync debug mode),
// the asynchronous host-to-device copy that avoids them, and a CUDA training step of each
// objective with the check on. The CUDA tests skip in a build without CUDA or on a machine
// without a GPU; the GPU bundle (scripts/gpu/bundle/run.sh, step 7) runs the same check under
// every sharding.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include "crossover/comm/comm.h"
#include "crossover/distributed/sharding.h"
#include "crossover/kernels/host_sync.h"
#include "crossover/objective/objective.h"
#include "crossover/train/train_step.h"

namespace crossover {
namespace {

bool have_cuda_build_and_device() { return ops::ForbidHostSyncs::available() && at::hasCUDA(); }

TEST(HostSyncs, OnTheCpuTheAsyncCopyIsTheTensorItself) {
  const at::Tensor t = at::arange(7, at::kFloat);
  const at::Tensor same = ops::to_device_async(t, at::kCPU);
  EXPECT_EQ(same.data_ptr(), t.data_ptr());
}

TEST(HostSyncs, TheCheckStopsASyncWhileItLastsOnly) {
  if (!have_cuda_build_and_device()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  const at::Tensor x = at::ones({4}, at::Device(at::kCUDA, 0));
  {
    ops::ForbidHostSyncs forbid;
    std::string message;
    try {
      (void)x.sum().item<float>();
    } catch (const c10::Error& e) {
      message = e.what_without_backtrace();
    }
    // The error train_step renames (and only that one).
    EXPECT_TRUE(ops::ForbidHostSyncs::is_sync_error(message)) << message;
    EXPECT_FALSE(ops::ForbidHostSyncs::is_sync_error("CUDA out of memory"));
    // Queued work and an asynchronous copy from the host are not syncs.
    const at::Tensor host = at::arange(1000, at::kFloat);
    at::Tensor on_gpu;
    EXPECT_NO_THROW(on_gpu = ops::to_device_async(host, x.device()) * 2);
  }
  EXPECT_EQ(x.sum().item<float>(), 4.0f);
  const at::Tensor host = at::arange(1000, at::kFloat);
  EXPECT_TRUE(at::equal(ops::to_device_async(host, x.device()).cpu(), host));
}

// One bf16 step of two micro-batches on the GPU for each objective, the windows crossing as the
// trainer sends them (pinned, asynchronously) and MDM's t drawn on the host: with the check on,
// any sync in the loop would throw.
TEST(HostSyncs, NoneInTheMicroBatchLoopOfACudaStep) {
  if (!have_cuda_build_and_device()) GTEST_SKIP() << "needs a CUDA build and a GPU";
  const at::Device cuda(at::kCUDA, 0);
  for (const char* kind : {"ar", "mdm"}) {
    SCOPED_TRACE(kind);
    ModelConfig mc;
    mc.layers = 2;
    mc.d_model = 64;
    mc.heads = 4;
    const Transformer model(mc, 64, 16);
    auto comm = make_local_comm(cuda);
    ShardingOptions so;
    so.device = cuda;
    so.compute_dtype = at::kBFloat16;
    auto sharding = make_sharding(so, model, OptimizerConfig{}, *comm);
    sharding->init(0);
    ObjectiveConfig oc;
    oc.type = *parse_choice<ObjectiveType>(kind);
    const auto objective = make_objective(oc, model.mask_id());
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    StepRequest request;
    request.windows = ops::to_device_async(at::randint(4, 64, {4, 17}, gen, at::kLong), cuda);
    request.context = {0, 0, 0, 4};
    request.micro_batch = 2;
    request.lr = 1e-3;
    request.forbid_host_syncs = true;
    StepResult r;
    ASSERT_NO_THROW(r = train_step(*sharding, *objective, *comm, request));
    EXPECT_TRUE(r.finite);
    EXPECT_GT(r.head_rows, 0);
  }
}

}  // namespace
}  // namespace crossover
