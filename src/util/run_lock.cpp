#include "crossover/util/run_lock.h"

#include <fcntl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <system_error>
#include <thread>

namespace crossover {

namespace fs = std::filesystem;

namespace {

enum class LockResult { taken, held, unsupported };

std::string this_host() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown-host";
  return name;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm g{};
  ::gmtime_r(&t, &g);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &g);
  return buf;
}

bool pid_alive(int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;  // EPERM: alive, not ours
}

// errno values with which a file system says it does not do fcntl locks: ENOLCK (NFS without
// a lock manager), ENOSYS (Lustre mounted with noflock), EOPNOTSUPP.
bool locks_unsupported(int err) { return err == ENOLCK || err == ENOSYS || err == EOPNOTSUPP; }

struct flock whole_file(short type) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = 0;
  fl.l_len = 0;  // to the end, however long the file grows
  fl.l_pid = 0;  // required by the OFD commands
  return fl;
}

// fcntl with the open-file-description command, or the classic one on kernels without OFD
// locks (EINVAL). OFD locks belong to the open file, not the process: they conflict with a
// second open of the file in the same process (tests rely on it), and closing some other
// descriptor of the file does not silently drop them as it does classic POSIX locks.
int fcntl_lock(int fd, int ofd_cmd, int classic_cmd, struct flock* fl) {
#ifdef F_OFD_SETLK
  const int rc = ::fcntl(fd, ofd_cmd, fl);
  if (rc == 0 || errno != EINVAL) return rc;
#else
  (void)ofd_cmd;
#endif
  return ::fcntl(fd, classic_cmd, fl);
}

LockResult try_lock(int fd, const std::string& path) {
  struct flock fl = whole_file(F_WRLCK);
#ifdef F_OFD_SETLK
  const int rc = fcntl_lock(fd, F_OFD_SETLK, F_SETLK, &fl);
#else
  const int rc = fcntl_lock(fd, 0, F_SETLK, &fl);
#endif
  if (rc == 0) return LockResult::taken;
  if (errno == EAGAIN || errno == EACCES) return LockResult::held;
  if (locks_unsupported(errno)) return LockResult::unsupported;
  throw std::system_error(errno, std::generic_category(), path + ": cannot lock");
}

// Whether another open file holds a lock on it (a read-lock probe conflicts with the write lock
// a trainer holds, so a read-only descriptor is enough).
LockResult probe_lock(int fd, const std::string& path) {
  struct flock fl = whole_file(F_RDLCK);
#ifdef F_OFD_GETLK
  const int rc = fcntl_lock(fd, F_OFD_GETLK, F_GETLK, &fl);
#else
  const int rc = fcntl_lock(fd, 0, F_GETLK, &fl);
#endif
  if (rc == 0) return fl.l_type == F_UNLCK ? LockResult::taken : LockResult::held;
  if (locks_unsupported(errno)) return LockResult::unsupported;
  throw std::system_error(errno, std::generic_category(), path + ": cannot test the lock");
}

std::string read_all(int fd) {
  std::string out;
  char buf[4096];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof(buf), off);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
    off += n;
  }
  return out;
}

// The holder a lock file names; nullopt when it is empty (released, or never taken). Content
// that does not parse (a torn write) still names a holder, an unknown one.
std::optional<RunLockHolder> parse_holder(const std::string& text) {
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) return std::nullopt;
  RunLockHolder h;
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return h;
  if (j.contains("host") && j["host"].is_string()) h.host = j["host"].get<std::string>();
  if (j.contains("pid") && j["pid"].is_number_integer()) h.pid = j["pid"].get<int64_t>();
  if (j.contains("started") && j["started"].is_string())
    h.started = j["started"].get<std::string>();
  return h;
}

// A holder writes its name right after taking the lock; give it a moment before reporting an
// unnamed one.
RunLockHolder named_holder(int fd) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  for (;;) {
    if (auto h = parse_holder(read_all(fd))) return *h;
    if (std::chrono::steady_clock::now() > deadline) return RunLockHolder{};
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

[[noreturn]] void refuse(const std::string& run_dir, const std::string& path,
                         const RunLockHolder& holder, const std::string& note) {
  throw RunDirLocked(run_dir + " is in use: " + holder.describe() + " holds " + path +
                         ". One run directory takes one trainer (a second would interleave "
                         "checkpoints and metrics.jsonl); wait for it to finish, stop it "
                         "(SIGTERM checkpoints), or train into another --run-dir" +
                         note,
                     holder);
}

// Without fcntl locks: does the holder the file names still run? Only a process on this host
// can be checked.
bool content_says_alive(const RunLockHolder& h, const std::string& host) {
  return h.host != host || (pid_alive(h.pid) && h.pid != ::getpid());
}

}  // namespace

std::string RunLockHolder::describe() const {
  if (host.empty() && pid == 0) return "an unnamed process (the lock file does not say which)";
  std::string s = "pid " + std::to_string(pid) + " on host " + (host.empty() ? "?" : host);
  if (!started.empty()) s += ", started " + started;
  return s;
}

std::string RunLock::path(const std::string& run_dir) {
  return (fs::path(run_dir) / ".lock").string();
}

RunLock::RunLock(const std::string& run_dir, RunLockOptions options) {
  const std::string p = path(run_dir);
  const int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(), p + ": cannot open the run lock file");
  fd_ = fd;
  // On refusal the file keeps naming the holder: close without release(), which empties it.
  auto close_fd = [&] {
    ::close(fd_);
    fd_ = -1;
  };
  const std::string host = this_host();
  bool locked = false;
  if (options.os_locks) {
    switch (try_lock(fd_, p)) {
      case LockResult::taken: locked = true; break;
      case LockResult::held: {
        const RunLockHolder h = named_holder(fd_);
        close_fd();
        refuse(run_dir, p, h, "");
      }
      case LockResult::unsupported:
        spdlog::warn("{}: this file system does not support fcntl locks ({}); the lock file's "
                     "content alone keeps a second trainer out, and not one that starts at the "
                     "same moment",
                     p, std::strerror(errno));
        break;
    }
  }
  if (const auto previous = parse_holder(read_all(fd_))) {
    if (!locked && content_says_alive(*previous, host)) {
      const std::string note =
          previous->host == host
              ? ""
              : " (without file locks a process on another host cannot be checked: remove " + p +
                    " if it no longer runs)";
      close_fd();
      refuse(run_dir, p, *previous, note);
    }
    const bool here = previous->host == host;
    spdlog::warn("{}: taking over a stale lock: {} {}", p, previous->describe(),
                 here && !pid_alive(previous->pid)
                     ? "is no longer running"
                     : "no longer holds it (it was killed, or its host went down)");
  }
  const std::string content = nlohmann::json{{"host", host},
                                             {"pid", static_cast<int64_t>(::getpid())},
                                             {"started", utc_now()}}
                                  .dump() +
                              "\n";
  if (::ftruncate(fd_, 0) != 0 ||
      ::pwrite(fd_, content.data(), content.size(), 0) != static_cast<ssize_t>(content.size()) ||
      ::fdatasync(fd_) != 0) {
    const int err = errno;
    close_fd();
    throw std::system_error(err, std::generic_category(), p + ": cannot write the run lock file");
  }
}

void RunLock::release() noexcept {
  if (fd_ < 0) return;
  // Emptied, not deleted (see the header): the next trainer finds a free lock and no holder.
  if (::ftruncate(fd_, 0) != 0) {
    // Harmless: the next trainer reports a stale lock and takes it over.
  }
  ::close(fd_);  // releases the lock
  fd_ = -1;
}

RunLock::~RunLock() { release(); }

RunLock::RunLock(RunLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

RunLock& RunLock::operator=(RunLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

std::optional<RunLockHolder> RunLock::holder(const std::string& run_dir, RunLockOptions options) {
  const std::string p = path(run_dir);
  const int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::nullopt;  // never taken
    throw std::system_error(errno, std::generic_category(), p + ": cannot open the run lock file");
  }
  std::optional<RunLockHolder> out;
  try {
    const LockResult r = options.os_locks ? probe_lock(fd, p) : LockResult::unsupported;
    if (r == LockResult::held) {
      out = named_holder(fd);
    } else if (r == LockResult::unsupported) {
      out = parse_holder(read_all(fd));
      if (out && !content_says_alive(*out, this_host())) out.reset();
    }
  } catch (...) {
    ::close(fd);
    throw;
  }
  ::close(fd);
  return out;
}

}  // namespace crossover
