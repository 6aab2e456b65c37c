// Launch errors of crossover's kernels, told apart from errors that earlier work left behind.
// cudaGetLastError() returns and clears the last error of any runtime call on this thread, so
// called alone after a launch it would blame the kernel for someone else's failure and hide
// theirs. check_before_launch() reports (without clearing) an error already pending, naming it
// as earlier work's; check_launch() then reports the launch's own error.
#pragma once

#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace crossover::kernels {

inline void check_before_launch(const char* what) {
  const cudaError_t err = cudaPeekAtLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) +
                             ": not launched, a CUDA error from earlier work is pending: " +
                             cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
  }
}

inline void check_launch(const char* what) {
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": launch failed: " + cudaGetErrorName(err) +
                             " (" + cudaGetErrorString(err) + ")");
  }
}

}  // namespace crossover::kernels
