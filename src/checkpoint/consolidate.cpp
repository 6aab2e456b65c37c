#include "crossover/checkpoint/consolidate.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/run_dir.h"
#include "crossover/checkpoint/tensor_files.h"
#include "crossover/comm/comm.h"
#include "crossover/config/config.h"
#include "crossover/model/transformer.h"
#include "crossover/util/fs.h"
#include "crossover/util/metrics.h"

namespace crossover {

namespace fs = std::filesystem;

std::string consolidate_checkpoint(const std::string& run_dir, int64_t step,
                                   const std::string& out) {
  const std::string src = Checkpointer::find(run_dir, step);
  const nlohmann::json raw_state = Checkpointer::read_state(src);
  TrainState state = TrainState::from_json(raw_state, src + "/state.json");
  const RunConfig config = state.run_config(src + "/state.json");
  if (fs::exists(out) && !fs::is_empty(out))
    throw std::runtime_error(out + ": exists and is not empty; give a new directory");
  fs::create_directories(out);
  const RunDir from{run_dir}, to{out};
  const Transformer model(config.model, DataMeta::read(from.data().root).vocab_size,
                          config.data.seq_len);
  std::vector<at::Tensor> p, m, v;
  for (size_t g = 0; g < model.layout().groups.size(); ++g) {
    const int64_t n = model.layout().groups[g].numel;
    p.push_back(read_checkpoint_range(src, raw_state, model.layout(), g, "param", 0, n));
    m.push_back(read_checkpoint_range(src, raw_state, model.layout(), g, "exp_avg", 0, n));
    v.push_back(read_checkpoint_range(src, raw_state, model.layout(), g, "exp_avg_sq", 0, n));
  }
  const int64_t at_step = state.step;
  auto comm = make_local_comm();
  Checkpointer ckpt(out, 1, *comm);
  state.checkpoint_format = {{"kind", "full"}};
  state.consolidated_from = {{"path", src}, {"world_size", state.world_size}};
  const std::string dir = ckpt.save(at_step, state, [&](const std::string& d) {
    return write_full_checkpoint(d, model.layout(), p, m, v);
  });
  // The rest of a run directory: config, tokenizer and data description, metrics to this step.
  fs::copy_file(from.config(), to.config());
  to.copy_data_description(from.data());
  if (fs::exists(from.metrics())) {
    fs::copy_file(from.metrics(), to.metrics());
    MetricsWriter trim(to.metrics(), at_step);  // drops events after the step
  }
  spdlog::info("consolidated {} (step {}) into {}", src, at_step, dir);
  return dir;
}

}  // namespace crossover
