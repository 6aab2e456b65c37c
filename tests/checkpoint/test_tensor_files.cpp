// Checkpoint tensor files: reading a range of a sharded checkpoint verifies only the files it
// opens, so a resuming rank hashes its own shards, and a corrupt file is still named when read.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "crossover/checkpoint/checkpointer.h"
#include "crossover/checkpoint/tensor_files.h"
#include "crossover/model/transformer.h"
#include "test_util.h"

namespace crossover {
namespace {

TEST(TensorFiles, ARangeVerifiesOnlyTheShardsItReads) {
  ModelConfig mc;
  mc.layers = 1;
  mc.d_model = 32;
  mc.heads = 2;
  const Transformer model(mc, 40, 16);
  const ModelLayout& layout = model.layout();
  const int64_t world = 2;
  testing::TempDir dir;
  const std::string ckpt = dir / "step_00000001";
  std::filesystem::create_directories(ckpt);
  nlohmann::json groups = nlohmann::json::array();
  std::vector<int64_t> shards;
  for (const auto& g : layout.groups) {
    shards.push_back((g.numel + world - 1) / world);
    groups.push_back({{"name", g.name}, {"numel", g.numel}, {"shard_numel", shards.back()}});
  }
  // Rank r's shard of group g holds the values r * shard .. (each element its global index).
  nlohmann::json state = {
      {"checkpoint_format", {{"kind", "sharded"}, {"world_size", world}, {"groups", groups}}},
      {"files", nlohmann::json::object()}};
  for (int64_t r = 0; r < world; ++r) {
    std::vector<at::Tensor> p, m;
    for (size_t g = 0; g < layout.groups.size(); ++g) {
      p.push_back(at::arange(r * shards[g], (r + 1) * shards[g], at::kFloat));
      m.push_back(at::zeros({shards[g]}, at::kFloat));
    }
    for (const auto& [name, sum] : write_sharded_checkpoint(ckpt, layout, r, world, p, m, m))
      state["files"][name] = sum;
  }
  testing::write_file(ckpt + "/state.json", state.dump());
  // Rank 1's model shard is corrupt.
  const std::string bad = ckpt + "/model.rank00001-of-00002.safetensors";
  std::string bytes = testing::read_file(bad);
  bytes[bytes.size() - 2] ^= 0x21;
  testing::write_file(bad, bytes);

  EXPECT_NE(
      testing::error_of([&] { Checkpointer::read_state(ckpt); }).find(bad + ": checksum mismatch"),
      std::string::npos);
  const nlohmann::json lazy = Checkpointer::read_state(ckpt, Checkpointer::Verify::kOnRead);
  // Rank 0's range reads (and verifies) rank 0's file only.
  const at::Tensor mine = read_checkpoint_range(ckpt, lazy, layout, 0, "param", 0, shards[0]);
  EXPECT_TRUE(at::equal(mine, at::arange(0, shards[0], at::kFloat)));
  EXPECT_NE(testing::error_of([&] {
              read_checkpoint_range(ckpt, lazy, layout, 0, "param", shards[0], 1);
            }).find(bad + ": checksum mismatch"),
            std::string::npos);
  // An unlisted file is refused too.
  nlohmann::json unlisted = lazy;
  unlisted["files"].erase("optimizer.rank00000-of-00002.safetensors");
  EXPECT_NE(testing::error_of([&] {
              read_checkpoint_range(ckpt, unlisted, layout, 0, "exp_avg", 0, 1);
            }).find("not listed with a checksum"),
            std::string::npos);
}

}  // namespace
}  // namespace crossover
