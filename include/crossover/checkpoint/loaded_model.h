// A trained model loaded back from a run directory for evaluation and generation: the run's
// resolved config, the tokenizer the run trained with (copied into RUN_DIR/data/ at the start of
// training, so a run directory is self-contained), and the parameters of one checkpoint
// (full or sharded, any world size) on the chosen device.
#pragma once

#include <ATen/core/Tensor.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "crossover/config/config.h"
#include "crossover/data/data_dir.h"
#include "crossover/data/tokenizer.h"
#include "crossover/model/transformer.h"
#include "crossover/objective/objective.h"

namespace crossover {

struct LoadedModel {
  RunConfig config;
  DataMeta data_meta;  // the meta.json of the data the run trained on
  std::unique_ptr<Transformer> model;
  std::unique_ptr<Objective> objective;  // how the run trained, scores and decodes
  std::vector<at::Tensor> flats;         // parameters per group, `dtype` on `device`
  std::unique_ptr<Tokenizer> tokenizer;
  at::Device device = at::kCPU;
  at::ScalarType dtype = at::kFloat;
  std::string checkpoint_dir;
  int64_t step = 0;

  int64_t mask_id() const { return model->mask_id(); }
  int32_t eos_id() const { return tokenizer->special().eos; }
};

struct LoadOptions {
  int64_t step = -1;                         // -1: the latest checkpoint
  std::optional<DeviceChoice> device;        // none: the run's hardware.device
  std::optional<PrecisionChoice> precision;  // none: the run's hardware.precision
};

// Loads RUN_DIR's checkpoint; errors name the run directory and what is missing.
LoadedModel load_model(const std::string& run_dir, const LoadOptions& options = {});

}  // namespace crossover
