#include "crossover/checkpoint/loaded_model.h"

#include <ATen/ATen.h>

#include <filesystem>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/run_dir.h"
#include "crossover/checkpoint/tensor_files.h"
#include "crossover/config/device.h"

namespace crossover {

namespace fs = std::filesystem;

LoadedModel load_model(const std::string& run_dir, const LoadOptions& options) {
  LoadedModel m;
  m.checkpoint_dir = Checkpointer::find(run_dir, options.step);
  const auto state = Checkpointer::read_state(m.checkpoint_dir);
  const TrainState train_state = TrainState::from_json(state, m.checkpoint_dir + "/state.json");
  m.step = train_state.step;
  m.config = train_state.run_config(m.checkpoint_dir + "/state.json");
  HardwareConfig hw = m.config.hardware;
  if (options.device) hw.device = *options.device;
  if (options.precision) hw.precision = *options.precision;
  m.device = resolve_device(hw);
  m.dtype = resolve_precision(hw, m.device);
  make_current(m.device);

  // The run's copy of the data description and tokenizer; the data directory as a fallback.
  const DataDir data = RunDir{run_dir}.data_or(m.config.data.path);
  m.data_meta = DataMeta::read(data.root);
  m.tokenizer = std::make_unique<Tokenizer>(Tokenizer::load(data.tokenizer()));
  const int64_t vocab = m.data_meta.vocab_size;
  m.model = std::make_unique<Transformer>(m.config.model, vocab, m.config.data.seq_len);
  m.objective = make_objective(m.config.objective, m.model->mask_id());
  const auto& groups = m.model->layout().groups;
  for (size_t g = 0; g < groups.size(); ++g)
    m.flats.push_back(read_checkpoint_range(m.checkpoint_dir, state, m.model->layout(), g, "param",
                                            0, groups[g].numel)
                          .to(m.device, m.dtype));
  return m;
}

}  // namespace crossover
