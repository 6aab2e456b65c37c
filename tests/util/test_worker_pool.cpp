#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <set>
#include <stdexcept>
#include <thread>

#include "crossover/util/worker_pool.h"

namespace crossover {
namespace {

TEST(WorkerPool, RunsEachJobOnItsOwnThreadWithItsThreadCount) {
  const int caller = at::get_num_threads();
  WorkerPool pool(3, 1);
  EXPECT_EQ(at::get_num_threads(), caller);  // the caller's count is restored
  std::vector<std::thread::id> ids(3);
  std::vector<int> counts(3);
  std::vector<std::function<void()>> jobs;
  for (int i = 0; i < 3; ++i)
    jobs.push_back([&, i] {
      ids[i] = std::this_thread::get_id();
      counts[i] = at::get_num_threads();
    });
  for (int round = 0; round < 20; ++round) pool.run(jobs);
  EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).size(), 3u);
  EXPECT_EQ(std::set<std::thread::id>(ids.begin(), ids.end()).count(std::this_thread::get_id()),
            0u);
  for (int c : counts) EXPECT_EQ(c, 1);
  // Fewer jobs than workers, then all again.
  int ran = 0;
  pool.run({[&] { ++ran; }});
  EXPECT_EQ(ran, 1);
  pool.run(jobs);
}

TEST(WorkerPool, AJobsExceptionReachesTheCaller) {
  WorkerPool pool(2, 1);
  int other = 0;
  EXPECT_THROW(pool.run({[] { throw std::runtime_error("boom"); }, [&] { other = 1; }}),
               std::runtime_error);
  EXPECT_EQ(other, 1);             // the other job still ran to the end
  pool.run({[&] { other = 2; }});  // and the pool is usable afterwards
  EXPECT_EQ(other, 2);
  EXPECT_THROW(pool.run({[] {}, [] {}, [] {}}), std::invalid_argument);
}

}  // namespace
}  // namespace crossover
