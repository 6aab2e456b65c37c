// Helpers shared by the tests: temporary directories, files, running the crossover binary.
#pragma once

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>

namespace crossover::testing {

namespace fs = std::filesystem;

// A fresh directory removed when the test ends.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = fs::temp_directory_path() /
            ("crossover-test-" + std::to_string(rd()) + "-" + std::to_string(rd()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// What `f` throws (its what()), or "(no error)".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// Runs a shell command, capturing its output and exit code.
inline CommandResult run_command(const std::string& command) {
  CommandResult r{-1, ""};
  std::FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The crossover binary: built next to the test binary.
inline const std::string& crossover_binary() {
  static const std::string path = fs::canonical("/proc/self/exe").parent_path() / "crossover";
  return path;
}
#define CROSSOVER_BINARY (::crossover::testing::crossover_binary().c_str())

// Runs the crossover binary with `args`.
inline CommandResult run_crossover(const std::string& args) {
  return run_command(crossover_binary() + " " + args);
}

const char* source_dir();  // tests/test_paths.cpp

// A path in the source tree.
inline std::string source_path(const std::string& relative) {
  return (fs::path(source_dir()) / relative).string();
}

// The project-local Python (scripts/setup/venv.sh) that checks crossover's outputs with the real
// libraries (tensorboard, safetensors, transformers). Empty, with the test failed, when it is
// missing: these checks must not pass by being skipped.
inline std::string venv_python() {
  const std::string python = source_path(".venv/bin/python");
  if (fs::exists(python)) return python;
  ADD_FAILURE() << python << " not found: run `scripts/setup/install.sh` "
                << "(scripts/test.sh does) to create the test tools' Python environment";
  return "";
}

// A TCP port on 127.0.0.1 that was free a moment ago (for a test's rendezvous). Drawn at random
// below Linux's ephemeral range (32768-60999): a port the kernel handed out could be handed out
// again, to another test's Gloo or TCPStore socket, before rank 0 binds it.
inline int free_port() {
  static std::mt19937 draw{std::random_device{}()};
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = 20000 + static_cast<int>(draw() % 12768);
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(s);
    if (free) return port;
  }
  ADD_FAILURE() << "no free TCP port in 20000-32767 on 127.0.0.1";
  return 0;
}

// Python checks whose outcome does not depend on the LibTorch crossover links (the data readers
// and tokenizers against their reference libraries, the lm-eval and W&B plumbing) run once per
// CI, in the Debian LibTorch pass: `scripts/test/run.sh --torch pip` sets
// CROSSOVER_SECOND_LIBTORCH_PASS=1 and they skip there, saying so.
inline bool second_libtorch_pass() {
  return std::getenv("CROSSOVER_SECOND_LIBTORCH_PASS") != nullptr;
}
#define CROSSOVER_ONCE_PER_CI()                                                              \
  do {                                                                                       \
    if (::crossover::testing::second_libtorch_pass())                                        \
      GTEST_SKIP() << "independent of LibTorch: runs in the Debian LibTorch pass of the CI"; \
  } while (0)

}  // namespace crossover::testing
