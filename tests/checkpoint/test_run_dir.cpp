// The run directory's own files (config.yaml, data/) and the state a checkpoint carries, as the
// trainer and `import hf` both write them.
#include <gtest/gtest.h>

#include <filesystem>

#include "crossover/checkpoint/run_dir.h"
#include "crossover/checkpoint/train_state.h"
#include "crossover/data/sampler.h"
#include "crossover/data/token_store.h"
#include "crossover/version.h"
#include "fixtures.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;

TEST(RunDir, WritesTheConfigAndACopyOfTheDataDescription) {
  testing::TempDir dir;
  const std::string data = testing::make_data(dir);
  RunConfig config = testing::tiny_config(data, "mdm");
  const RunDir run{dir / "run"};
  fs::create_directories(run.root);
  testing::write_file(run.config(), "an older config\n");

  run.write_run_files(config);
  EXPECT_EQ(testing::read_file(run.config()), dump_config(config));
  EXPECT_TRUE(config_differences(load_config(run.config(), {}), config).empty());
  const DataDir from{data};
  EXPECT_EQ(testing::read_file(run.data().meta()), testing::read_file(from.meta()));
  EXPECT_EQ(testing::read_file(run.data().tokenizer()), testing::read_file(from.tokenizer()));
  EXPECT_EQ(run.data_or("elsewhere").root, run.data().root);

  // A resumed run's changed config replaces the old one.
  config.optimizer.lr = 1e-3;
  run.write_run_files(config);
  EXPECT_EQ(testing::read_file(run.config()), dump_config(config));
  EXPECT_FALSE(fs::exists(run.config() + ".tmp"));
}

TEST(TrainState, OfARunHoldsItsAxesCursorAndIdentity) {
  testing::TempDir dir;
  const std::string data = testing::make_data(dir);
  RunConfig config = testing::tiny_config(data, "mdm");
  config.training.seed = 7;
  const DataMeta meta = DataMeta::read(data);
  const auto store = TokenStore::open(DataDir{data}.train());
  RepeatSampler sampler(store, meta.eos_id, sampler_options(config));

  const TrainState start = TrainState::of_run(config, sampler, 0, 0);
  EXPECT_EQ(start.step, 0);
  EXPECT_EQ(start.tokens, 0);
  EXPECT_EQ(start.epoch, 0);
  EXPECT_EQ(start.flops, 0);
  EXPECT_EQ(start.unique_tokens, sampler.unique_tokens());
  EXPECT_EQ(start.sampler, sampler.state());
  EXPECT_EQ(start.config, dump_config(config));
  EXPECT_EQ(start.crossover_version, kVersion);
  EXPECT_EQ(start.objective, ObjectiveType::kMdm);
  EXPECT_EQ(start.seed, 7);
  // What the caller adds keeps its defaults.
  EXPECT_EQ(start.optimizer_steps, 0);
  EXPECT_EQ(start.world_size, 1);
  EXPECT_EQ(start.checkpoint_format, nlohmann::json({{"kind", "full"}}));
  EXPECT_TRUE(start.imported_from.is_null());

  for (int i = 0; i < 3; ++i) sampler.advance();
  const TrainState later = TrainState::of_run(config, sampler, 3, 1000.0);
  EXPECT_EQ(later.tokens, 3 * sampler.tokens_per_step());
  EXPECT_DOUBLE_EQ(later.epoch, 3.0 * config.training.global_batch /
                                    static_cast<double>(sampler.num_sequences()));
  EXPECT_DOUBLE_EQ(later.flops, 1000.0 * static_cast<double>(later.tokens));
  EXPECT_EQ(later.sampler, sampler.state());
  EXPECT_NE(later.sampler, start.sampler);
  // It round-trips through state.json.
  const TrainState back = TrainState::from_json(later.to_json(), "state.json");
  EXPECT_EQ(back.tokens, later.tokens);
  EXPECT_EQ(back.sampler, later.sampler);
}

}  // namespace
}  // namespace crossover
