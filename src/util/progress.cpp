#include "crossover/util/progress.h"

#include <unistd.h>

#include <spdlog/fmt/fmt.h>

#include <algorithm>
#include <cstdio>

namespace crossover {

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e12) std::snprintf(buf, sizeof(buf), "%.2fT", n / 1e12);
  else if (n >= 1e9) std::snprintf(buf, sizeof(buf), "%.2fB", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof(buf), "%.2fM", n / 1e6);
  else if (n >= 1e3) std::snprintf(buf, sizeof(buf), "%.1fk", n / 1e3);
  else std::snprintf(buf, sizeof(buf), "%.0f", n);
  return buf;
}

std::string human_duration(double s) {
  char buf[32];
  if (s < 0 || s != s) return "?";
  const long t = static_cast<long>(s + 0.5);
  if (t >= 3600) std::snprintf(buf, sizeof(buf), "%ldh%02ldm", t / 3600, (t % 3600) / 60);
  else if (t >= 60) std::snprintf(buf, sizeof(buf), "%ldm%02lds", t / 60, t % 60);
  else std::snprintf(buf, sizeof(buf), "%lds", t);
  return buf;
}

Progress::Progress(std::string label, int64_t total_bytes)
    : label_(std::move(label)), total_bytes_(total_bytes), tty_(::isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()), last_print_(start_) {}

void Progress::update(int64_t bytes, int64_t tokens, bool force) {
  bytes_ = bytes;
  tokens_ = tokens;
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - last_print_).count();
  if (!force && since < (tty_ ? 0.25 : 5.0)) return;
  last_print_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double mbps = elapsed > 0 ? bytes_ / 1e6 / elapsed : 0.0;
  std::string bar;
  if (total_bytes_ > 0) {
    const double frac = std::min(1.0, static_cast<double>(bytes_) / total_bytes_);
    const int width = 24, filled = static_cast<int>(frac * width);
    bar = fmt::format("[{:#<{}}{:.<{}}] {:3.0f}% ", "", filled, "", width - filled, frac * 100);
    if (frac > 0 && frac < 1) bar += "ETA " + human_duration(elapsed * (1 - frac) / frac) + " ";
  }
  const double tps = elapsed > 0 ? tokens_ / elapsed : 0.0;
  const std::string line = fmt::format("{}: {}{:.1f} MB/s, {} tokens/s, {:.1f} MB read, {} tokens",
                                       label_, bar, mbps, human_count(tps), bytes_ / 1e6,
                                       human_count(static_cast<double>(tokens_)));
  if (tty_) std::fprintf(stderr, "\r%s\033[K", line.c_str());
  else std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

void Progress::finish() {
  update(bytes_, tokens_, true);
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace crossover
