// posix_spawn-based child processes with signal forwarding (see process.h for the why).
#include "crossover/sweep/process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <stdexcept>

extern char** environ;

namespace crossover {

namespace fs = std::filesystem;

namespace {

// The running children and the pending stop signal; one mutex so that starting a child and
// signalling all children cannot interleave.
struct Children {
  std::mutex mu;
  std::set<pid_t> pids;
  int stop_signal = 0;
};
Children& children() {
  static Children c;
  return c;
}

struct SpawnAttr {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnAttr() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnAttr() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

// The output a run wrote since `offset`: its last `lines` lines.
std::string tail_since(const std::string& path, std::streamoff offset, size_t lines) {
  std::ifstream in(path);
  if (!in) return "";
  in.seekg(offset);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (last.size() > lines) last.pop_front();
  }
  std::string out;
  for (const auto& l : last) out += "  | " + l + "\n";
  return out;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

}  // namespace

int run_process(const std::vector<std::string>& argv, const std::string& cwd,
                const std::string& log_path) {
  if (argv.empty()) throw std::invalid_argument("run_process: empty command");
  SpawnAttr sa;
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  // A new process group; signals unblocked and at their default action whatever the parent
  // (which blocks them while forwarding) does.
  posix_spawnattr_setflags(&sa.attr,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&sa.attr, 0);
  posix_spawnattr_setsigmask(&sa.attr, &none);
  posix_spawnattr_setsigdefault(&sa.attr, &defaults);
  posix_spawn_file_actions_addopen(&sa.actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&sa.actions, STDOUT_FILENO, log_path.c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&sa.actions, STDOUT_FILENO, STDERR_FILENO);
  if (!cwd.empty()) posix_spawn_file_actions_addchdir_np(&sa.actions, cwd.c_str());

  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = 0;
  {
    auto& c = children();
    std::lock_guard<std::mutex> lock(c.mu);
    const int rc = posix_spawn(&pid, argv[0].c_str(), &sa.actions, &sa.attr, args.data(), environ);
    if (rc != 0)
      throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc) +
                               (cwd.empty() ? "" : " (in " + cwd + ")"));
    c.pids.insert(pid);
    if (c.stop_signal != 0) ::kill(-pid, c.stop_signal);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  {
    auto& c = children();
    std::lock_guard<std::mutex> lock(c.mu);
    c.pids.erase(pid);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

int signal_children(int sig) {
  auto& c = children();
  std::lock_guard<std::mutex> lock(c.mu);
  c.stop_signal = sig;
  int n = 0;
  for (pid_t pid : c.pids) n += ::kill(-pid, sig) == 0;
  return n;
}

void clear_child_stop() {
  auto& c = children();
  std::lock_guard<std::mutex> lock(c.mu);
  c.stop_signal = 0;
}

Launcher process_launcher(const std::string& binary) {
  return [binary](const LaunchRequest& r) {
    std::vector<std::string> argv = {binary, "train", r.config_path, "--run-dir", r.run_dir};
    if (r.threads > 0) {
      argv.push_back("--threads");
      argv.push_back(std::to_string(r.threads));
    }
    const std::string log = (fs::path(r.run_dir) / "console.log").string();
    std::string command;
    for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
    std::streamoff offset = 0;
    {
      std::ofstream out(log, std::ios::app);
      if (!out) throw std::runtime_error(log + ": cannot open for appending");
      out << "==== crossover sweep run, " << utc_now() << ": " << command << "\n";
      offset = out.tellp();
    }
    const int status = run_process(argv, r.workdir, log);
    bool stopped = false;
    {
      auto& c = children();
      std::lock_guard<std::mutex> lock(c.mu);
      stopped = c.stop_signal != 0;
    }
    // A run we stopped exits non-zero by design; only a failure deserves its output.
    if (status != 0 && !stopped) {
      const std::string tail = tail_since(log, offset, 12);
      spdlog::error("{}: exit status {}; the end of its output ({}):\n{}", r.point, status, log,
                    tail.empty() ? "  | (nothing)\n" : tail);
    }
    return status;
  };
}

SignalForwarder::SignalForwarder(std::atomic<bool>& stop) : stop_(stop) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old_mask_);
  clear_child_stop();
  watcher_ = std::thread([this, set] {
    const timespec poll{0, 200'000'000};
    while (!done_.load()) {
      siginfo_t info;
      const int sig = sigtimedwait(&set, &info, &poll);
      if (sig <= 0) continue;
      received_ = sig;
      stop_ = true;
      const int n = signal_children(sig);
      spdlog::warn("sweep: received {}: forwarded to {} running point(s); waiting for them to "
                   "checkpoint and exit; nothing new starts",
                   sig == SIGINT ? "SIGINT" : "SIGTERM", n);
    }
  });
}

SignalForwarder::~SignalForwarder() {
  done_ = true;
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
}

}  // namespace crossover
