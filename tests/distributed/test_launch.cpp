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

TEST(DistEnv, UnderTorchrunsAgentStoreRankZeroServesOnTheNextPort) {
  setenv("WORLD_SIZE", "4", 1);
  setenv("RANK", "0", 1);
  setenv("MASTER_PORT", "29500", 1);
  unsetenv("TORCHELASTIC_USE_AGENT_STORE");
  unsetenv("TORCHELASTIC_RESTART_COUNT");
  EXPECT_FALSE(read_dist_env().agent_store);
  EXPECT_EQ(read_dist_env().store_port(), 29500);
  setenv("TORCHELASTIC_USE_AGENT_STORE", "True", 1);
  setenv("TORCHELASTIC_RESTART_COUNT", "2", 1);
  const DistEnv e = read_dist_env();
  EXPECT_TRUE(e.agent_store);
  EXPECT_EQ(e.store_port(), 29501);  // torchrun's own store holds 29500
  EXPECT_EQ(e.restart_count, 2);
  setenv("TORCHELASTIC_USE_AGENT_STORE", "False", 1);
  EXPECT_FALSE(read_dist_env().agent_store);
  for (const char* v : {"WORLD_SIZE", "RANK", "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE",
                        "TORCHELASTIC_RESTART_COUNT"})
    unsetenv(v);
}

TEST(LocalAddress, IsTheSourceAddressTowardsTheHost) {
  EXPECT_EQ(local_address_towards("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(local_address_towards("127.3.4.5"), "127.0.0.1");  // 127/8 is all loopback
  EXPECT_EQ(local_address_towards("no-such-host.invalid"), "");
}

TEST(LostPeer, NamesTheCollectiveAndTheRanksBehindTheBrokenConnection) {
  const std::vector<std::string> at = {"10.9.0.10", "10.9.0.10", "10.9.0.11", "10.9.0.11"};
  const std::string gloo =
      "[../third_party/gloo/gloo/transport/tcp/pair.cc:598] Connection closed by peer "
      "[10.9.0.11]:23456\nException raised from ...\nframe #0: c10::Error";
  EXPECT_EQ(describe_lost_peer(1, "all_reduce", gloo, at, 20),
            "rank 1 (10.9.0.10): collective all_reduce failed: ranks 2, 3 at 10.9.0.11 went away "
            "([../third_party/gloo/gloo/transport/tcp/pair.cc:598] Connection closed by peer "
            "[10.9.0.11]:23456)");
  // This rank's own address names the other ranks of its node only.
  const std::string local = "Connection reset by peer [10.9.0.10]:5000";
  EXPECT_NE(describe_lost_peer(0, "barrier", local, at, 20).find("rank 1 at 10.9.0.10 went away"),
            std::string::npos);
  // A timeout names no address: the line says nobody answered within distributed.timeout_s.
  const std::string line = describe_lost_peer(
      3, "reduce_scatter", "Timed out waiting 20000ms for recv operation to complete\nframe #0", at,
      20);
  EXPECT_NE(
      line.find(
          "rank 3 (10.9.0.11): collective reduce_scatter failed: no peer answered within 20 s"),
      std::string::npos)
      << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace crossover
