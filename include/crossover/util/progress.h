// Progress for long jobs: a self-overwriting line on a terminal, a plain line every few seconds
// otherwise (logs, CI). Callers report counters; the rate and ETA are derived here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace crossover {

class Progress {
 public:
  // `total_bytes` <= 0 when unknown (no percentage or ETA then).
  Progress(std::string label, int64_t total_bytes);
  // Reports the bytes consumed and tokens produced so far; prints at most every interval.
  void update(int64_t bytes, int64_t tokens, bool force = false);
  // Prints the final line.
  void finish();

 private:
  std::string label_;
  int64_t total_bytes_;
  int64_t bytes_ = 0, tokens_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_print_;
};

// "1.23M", "45.6k", "7.89B": compact counts for progress lines.
std::string human_count(double n);
// Seconds of the steady clock since t.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// "1h02m", "3m05s", "12s".
std::string human_duration(double seconds);

}  // namespace crossover
