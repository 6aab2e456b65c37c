// Every test process computes on one thread. ctest runs one test process per core
// (scripts/test/run.sh: ctest -j$(nproc)) and the command-line tests pass --threads 1; in-process
// tests default to all cores, so several OpenMP teams would share fewer cores than they have
// threads and spend their time in barriers (LibTorch 2.x's libgomp slows a training test from
// 40 s to over 15 minutes that way on 2 busy cores).
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

namespace crossover::testing {
namespace {

class OneThreadPerTest : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};

[[maybe_unused]] ::testing::Environment* const kOneThread =
    ::testing::AddGlobalTestEnvironment(new OneThreadPerTest);

}  // namespace
}  // namespace crossover::testing
