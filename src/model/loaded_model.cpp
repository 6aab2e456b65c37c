#include "crossover/model/loaded_model.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "crossover/data/prepare.h"
#include "crossover/dist/sharding.h"
#include "crossover/train/checkpoint.h"
#include "crossover/config/device.h"

namespace crossover {

namespace fs = std::filesystem;

LoadedModel load_model(const std::string& run_dir, const LoadOptions& options) {
  LoadedModel m;
  m.checkpoint_dir = Checkpointer::find(run_dir, options.step);
  const auto state = Checkpointer::read_state(m.checkpoint_dir);
  m.step = state.at("step").get<int64_t>();
  m.config = parse_config(state.at("config").get<std::string>(), m.checkpoint_dir + "/state.json");
  HardwareConfig hw = m.config.hardware;
  if (!options.device.empty()) hw.device = options.device;
  if (!options.precision.empty()) hw.precision = options.precision;
  m.device = resolve_device(hw);
  m.dtype = resolve_precision(hw, m.device);
  make_current(m.device);

  // The run's copy of the data description and tokenizer; the data directory as a fallback.
  fs::path data = fs::path(run_dir) / "data";
  if (!fs::exists(data / "meta.json")) data = m.config.data.path;
  m.data_meta = read_data_meta(data.string());
  m.tokenizer = std::make_unique<Tokenizer>(Tokenizer::load((data / "tokenizer.model").string()));
  const int64_t vocab = m.data_meta.at("vocab_size").get<int64_t>();
  m.model = std::make_unique<Transformer>(m.config.model, vocab, m.config.data.seq_len,
                                          m.config.optimizer);
  const auto& groups = m.model->layout().groups;
  for (size_t g = 0; g < groups.size(); ++g)
    m.flats.push_back(read_checkpoint_range(m.checkpoint_dir, state, m.model->layout(), g, "param",
                                            0, groups[g].numel)
                          .to(m.device, m.dtype));
  return m;
}

}  // namespace crossover
