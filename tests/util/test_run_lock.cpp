// The run-directory lock: a second holder is refused by name, release frees the directory, a
// lock file left by a dead trainer is taken over with a warning, and without fcntl locks the
// file's content decides. Two trainer processes: tests/train/test_trainer_runs.cpp.
#include <gtest/gtest.h>

#include <signal.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "crossover/util/run_lock.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;

std::string hostname() {
  char name[256] = {};
  ::gethostname(name, sizeof(name) - 1);
  return name;
}

// Collects what is logged while it lives.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() const { return out_.str(); }

 private:
  std::shared_ptr<spdlog::logger> previous_;
  std::ostringstream out_;
};

// A process id that is certainly not running: a child that has exited and been reaped.
pid_t dead_pid() {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(0);
  ::waitpid(pid, nullptr, 0);
  return pid;
}

// A live process other than this one, killed when the test ends.
class LiveChild {
 public:
  LiveChild() : pid_(::fork()) {
    if (pid_ == 0) {
      ::pause();
      ::_exit(0);
    }
  }
  ~LiveChild() {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_;
};

void write_holder(const TempDir& dir, const std::string& host, int64_t pid) {
  testing::write_file(
      RunLock::path(dir.path().string()),
      nlohmann::json{{"host", host}, {"pid", pid}, {"started", "2020-01-02T03:04:05Z"}}.dump() +
          "\n");
}

TEST(RunLock, ASecondHolderIsRefusedByNameUntilTheFirstReleases) {
  TempDir dir;
  const std::string run = dir.path().string();
  EXPECT_FALSE(RunLock::holder(run)) << "never taken";
  const std::string me = "pid " + std::to_string(::getpid()) + " on host " + hostname() +
                         ", started ";
  {
    RunLock first(run);
    ASSERT_TRUE(first.held());
    const auto content = nlohmann::json::parse(testing::read_file(RunLock::path(run)));
    EXPECT_EQ(content["pid"], ::getpid());
    EXPECT_EQ(content["host"], hostname());
    // Open-file-description locks conflict within one process too, so the refusal shows here.
    try {
      RunLock second(run);
      FAIL() << "a second lock on " << run << " was granted";
    } catch (const RunDirLocked& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.rfind(run + " is in use: " + me, 0), 0u) << what;
      EXPECT_NE(what.find("holds " + RunLock::path(run)), std::string::npos) << what;
      EXPECT_EQ(e.holder().pid, ::getpid());
      EXPECT_EQ(e.holder().started, content["started"].get<std::string>());
    }
    // The refusal left the holder's name in place.
    EXPECT_EQ(nlohmann::json::parse(testing::read_file(RunLock::path(run))), content);
    const auto h = RunLock::holder(run);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->describe().rfind(me, 0), 0u) << h->describe();
  }
  // Released: emptied, not deleted, and free for the next trainer, without a warning.
  EXPECT_TRUE(std::filesystem::exists(RunLock::path(run)));
  EXPECT_EQ(testing::read_file(RunLock::path(run)), "");
  EXPECT_FALSE(RunLock::holder(run));
  CapturedLog log;
  RunLock again(run);
  EXPECT_TRUE(again.held());
  EXPECT_EQ(log.text(), "");
  RunLock moved = std::move(again);
  EXPECT_FALSE(again.held());
  EXPECT_TRUE(moved.held());
  EXPECT_THROW(RunLock{run}, RunDirLocked);
}

TEST(RunLock, ALockFileLeftByADeadTrainerIsTakenOverWithAWarning) {
  TempDir dir;
  const std::string run = dir.path().string();
  const pid_t dead = dead_pid();
  write_holder(dir, hostname(), dead);  // what a SIGKILLed trainer leaves behind
  EXPECT_FALSE(RunLock::holder(run)) << "nobody holds the fcntl lock";
  CapturedLog log;
  RunLock lock(run);
  EXPECT_TRUE(lock.held());
  EXPECT_NE(log.text().find(RunLock::path(run) + ": taking over a stale lock: pid " +
                            std::to_string(dead) + " on host " + hostname() +
                            ", started 2020-01-02T03:04:05Z is no longer running"),
            std::string::npos)
      << log.text();
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(RunLock::path(run)))["pid"], ::getpid());
}

TEST(RunLock, WithoutFileLocksTheFileContentDecides) {
  const RunLockOptions content_only{false};
  TempDir dir;
  const std::string run = dir.path().string();
  {
    // A live process on this host keeps the directory.
    LiveChild other;
    write_holder(dir, hostname(), other.pid());
    const auto h = RunLock::holder(run, content_only);
    ASSERT_TRUE(h);
    EXPECT_EQ(h->pid, other.pid());
    try {
      RunLock refused(run, content_only);
      FAIL() << "granted although pid " << other.pid() << " is alive";
    } catch (const RunDirLocked& e) {
      EXPECT_NE(std::string(e.what()).find("pid " + std::to_string(other.pid()) + " on host " +
                                           hostname()),
                std::string::npos)
          << e.what();
    }
  }
  {
    // One on another host cannot be checked: refused, and the message says how to clear it.
    write_holder(dir, "some-other-host", 4242);
    EXPECT_TRUE(RunLock::holder(run, content_only));
    try {
      RunLock refused(run, content_only);
      FAIL() << "granted although another host may still train";
    } catch (const RunDirLocked& e) {
      EXPECT_NE(std::string(e.what()).find("pid 4242 on host some-other-host"), std::string::npos);
      EXPECT_NE(
          std::string(e.what()).find("remove " + RunLock::path(run) + " if it no longer runs"),
          std::string::npos)
          << e.what();
    }
  }
  // A dead one on this host is taken over; then this process is the holder.
  write_holder(dir, hostname(), dead_pid());
  EXPECT_FALSE(RunLock::holder(run, content_only));
  CapturedLog log;
  RunLock lock(run, content_only);
  EXPECT_TRUE(lock.held());
  EXPECT_NE(log.text().find("is no longer running"), std::string::npos) << log.text();
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(RunLock::path(run)))["pid"], ::getpid());
}

}  // namespace
}  // namespace crossover
