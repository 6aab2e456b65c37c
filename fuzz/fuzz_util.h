// Shared by the fuzz targets: what counts as a clean rejection, and a scratch directory for
// readers that take a path.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>

namespace crossover::fuzz {

// Runs `parse`. Rejecting an input means throwing what the command line prints as an error (a
// std::exception). An allocation failure is not a rejection: a size that no valid file reaches
// must be refused by name before anything is allocated, so std::bad_alloc and std::length_error
// abort, and libFuzzer keeps the input (as it does for sanitizer reports, timeouts and inputs
// that exceed -rss_limit_mb / -malloc_limit_mb).
template <class F>
void expect_clean_rejection(F&& parse) {
  try {
    parse();
  } catch (const std::bad_alloc& e) {
    std::fprintf(stderr, "allocation failure instead of a refusal: %s\n", e.what());
    std::abort();
  } catch (const std::length_error& e) {
    std::fprintf(stderr, "length error instead of a refusal: %s\n", e.what());
    std::abort();
  } catch (const std::exception&) {
    // rejected with a message: fine
  }
}

// A directory of this process, made on first use (libFuzzer runs one input at a time), in
// memory where /dev/shm exists: readers that take a path see every input as a file, and a disk
// would make that the slowest part of the run.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string tmpl = (::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                       std::string("/crossover-fuzz-XXXXXX");
    if (!::mkdtemp(tmpl.data())) std::abort();
    return tmpl;
  }();
  return dir;
}

// Writes the input to `path` (replacing it).
inline void write_input(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) std::abort();
}

}  // namespace crossover::fuzz
