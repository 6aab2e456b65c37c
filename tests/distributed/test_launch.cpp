// launch_process: a process started without a launcher is rank 0 of 1 on the configured
// device, with no process group and LibTorch's threads set from the config.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <cstdlib>

#include "crossover/comm/launch.h"

namespace crossover {
namespace {

TEST(LaunchProcess, WithoutALauncherIsOneLocalRankOnTheConfiguredDevice) {
  for (const char* v : {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT",
                        "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID", "SLURM_JOB_NODELIST"})
    unsetenv(v);
  const int threads_before = at::get_num_threads();
  RunConfig config;
  config.hardware.device = DeviceChoice::kCpu;
  config.hardware.threads = 2;
  const LaunchedProcess p = launch_process(config);
  EXPECT_EQ(p.env.source, "none");
  EXPECT_EQ(p.env.world_size, 1);
  EXPECT_TRUE(p.device.is_cpu());
  ASSERT_NE(p.comm, nullptr);
  EXPECT_EQ(p.comm->world_size(), 1);
  EXPECT_EQ(p.comm->rank(), 0);
  EXPECT_EQ(p.comm->backend(), "local");
  EXPECT_EQ(at::get_num_threads(), 2);
  at::set_num_threads(threads_before);
}

}  // namespace
}  // namespace crossover
