// Helpers of the Hugging Face export/import tests: the project's Python environment (the one
// scripts/setup/install.sh makes from scripts/setup/requirements-test.txt: torch, transformers,
// safetensors, sentencepiece) and crossover's own logits for a run.
#pragma once

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "crossover/checkpoint/loaded_model.h"
#include "test_util.h"

namespace crossover::testing {

// Fails the test (never skips it) when the environment is missing: these checks are the point.
#define ASSERT_VENV()                                                       \
  ASSERT_TRUE(std::filesystem::exists(::crossover::testing::venv_python())) \
      << ::crossover::testing::venv_python() << " is missing: run scripts/setup/install.sh"

// Runs tests/python/SCRIPT with the environment's interpreter.
inline CommandResult run_python(const std::string& script, const std::string& args) {
  return run_command(venv_python() + " " + source_path("tests/python/" + script) + " " + args);
}

// The object a script printed as `RESULT {json}` (null when there is none).
inline nlohmann::json python_result(const CommandResult& r) {
  const size_t at = r.output.rfind("RESULT ");
  if (at == std::string::npos) return nullptr;
  const size_t end = r.output.find('\n', at);
  return nlohmann::json::parse(
      r.output.substr(at + 7, end == std::string::npos ? end : end - at - 7), nullptr, false);
}

// crossover's logits [B, T, vocab] for ids [B, T] from a run's checkpoint, fp32 on the CPU:
// causal (AR) or bidirectional (MDM).
inline at::Tensor crossover_logits(const std::string& run_dir, const at::Tensor& ids, bool causal,
                                   int64_t step = -1) {
  LoadOptions lo;
  lo.step = step;
  lo.device = DeviceChoice::kCpu;
  lo.precision = PrecisionChoice::kFp32;
  const LoadedModel m = load_model(run_dir, lo);
  at::NoGradGuard no_grad;
  return m.model->logits(m.flats[0], m.model->hidden(m.flats, ids, causal));
}

}  // namespace crossover::testing
