// `crossover import hf` on models transformers made: tiny random Llama and Qwen3 checkpoints
// (tests/python/hf_make_model.py, single-file and sharded) start runs whose logits are
// transformers' logits, and which `crossover train` then continues; every mismatch with the
// run config is an error naming the file, the tensor or key, and both values.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "crossover/util/metrics.h"
#include "crossover/util/safetensors.h"
#include "fixtures.h"
#include "hf/hf_test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

constexpr int64_t kVocab = 320;  // testing::make_data's tokenizer

class HfImport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = testing::make_data(*dir_);
  }
  static void TearDownTestSuite() { delete dir_; }

  // A run config for hf_make_model.py's default shape (d 32, 2 layers, 2 heads, ffn 128):
  // 10 steps.
  static std::string config(const std::string& name, const std::string& objective,
                            const std::vector<std::string>& sets) {
    RunConfig c = testing::tiny_config(data_, objective);
    c.model.ffn_hidden = 128;
    c.data.total_tokens = TokenCount(10 * 8 * 32);
    c.eval.every = 0;
    c.checkpoint.every = 0;
    for (const auto& s : sets) apply_override(c, s);
    const std::string path = *dir_ / (name + ".yaml");
    testing::write_file(path, dump_config(c));
    return path;
  }

  // Makes a transformers model in dir_/name; REF (its ids and logits) beside it.
  static std::string make_model(const std::string& name, const std::string& args) {
    const std::string out = *dir_ / name;
    const auto r = testing::run_python("hf_make_model.py",
                                       out + " --ref " + out + "-ref.safetensors " + args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out;
  }

  static void set_json(const std::string& path, const std::string& key, const nlohmann::json& v) {
    auto j = nlohmann::json::parse(testing::read_file(path));
    j[key] = v;
    testing::write_file(path, j.dump());
  }

  static TempDir* dir_;
  static std::string data_;
};
TempDir* HfImport::dir_ = nullptr;
std::string HfImport::data_;

TEST_F(HfImport, TransformersLlamaAndQwen3StartRunsWithTheirLogits) {
  ASSERT_VENV();
  struct Case {
    std::string arch, objective, args;
    std::vector<std::string> sets;
    int64_t extra_rows;
  };
  const Case cases[] = {
      // Continued AR pretraining of a Llama with grouped-query attention (4 query heads on 2
      // key/value heads) and an untied head, one file.
      {"llama",
       "ar",
       "--heads 4 --kv-heads 2",
       {"model.qk_norm=false", "model.heads=4", "model.kv_heads=2", "model.tie_embeddings=false"},
       0},
      // AR -> MDM adaptation of a tied Qwen3 whose vocabulary is padded by 5 rows, sharded.
      {"qwen3", "mdm", "--tied --max-shard-size 20KB", {}, 5},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.arch);
    const std::string hf = make_model(
        c.arch, "--arch " + c.arch + " --vocab " + std::to_string(kVocab + c.extra_rows) +
                    " --ids-below " + std::to_string(kVocab) + " " + c.args);
    EXPECT_EQ(fs::exists(hf + "/model.safetensors.index.json"), c.arch == "qwen3");
    const std::string cfg = config(c.arch, c.objective, c.sets), run = *dir_ / ("run-" + c.arch);
    const auto r =
        testing::run_crossover("import hf " + hf + " --config " + cfg + " --run-dir " + run);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("[MASK] row: the mean of the 320 embedding rows"), std::string::npos)
        << r.output;
    if (c.extra_rows)
      EXPECT_NE(r.output.find("5 embedding rows past the vocabulary dropped"), std::string::npos)
          << r.output;

    // crossover's logits are transformers' (causal for AR, bidirectional for MDM).
    const safetensors::File ref(hf + "-ref.safetensors");
    const at::Tensor ids = ref.tensor("ids");
    const bool causal = c.objective == "ar";
    const at::Tensor want =
        ref.tensor(causal ? "logits_causal" : "logits_bidirectional").narrow(-1, 0, kVocab);
    const at::Tensor got = testing::crossover_logits(run, ids, causal);
    const double diff = (got - want).abs().max().item<double>();
    std::printf("import %s (%s): max |logit difference| %.3g (logits up to %.3g)\n", c.arch.c_str(),
                c.objective.c_str(), diff, want.abs().max().item<double>());
    EXPECT_LE(diff, 1e-4);
    // The other attention is far off: the comparison can fail.
    const at::Tensor other =
        ref.tensor(causal ? "logits_bidirectional" : "logits_causal").narrow(-1, 0, kVocab);
    EXPECT_GT((got - other).abs().max().item<double>(), 1e-2);

    // The [MASK] row is the mean of the vocabulary's rows.
    const std::string ckpt = run + "/checkpoints/step_00000000";
    const at::Tensor emb = safetensors::File(ckpt + "/model.safetensors").tensor("tok_embeddings");
    ASSERT_EQ(emb.size(0), kVocab + 1);
    EXPECT_TRUE(at::allclose(emb[kVocab], emb.narrow(0, 0, kVocab).mean(0), 0, 1e-7));
    const auto state = nlohmann::json::parse(testing::read_file(ckpt + "/state.json"));
    EXPECT_EQ(state["step"], 0);
    EXPECT_EQ(state["imported_from"]["model_type"], c.arch);

    // `crossover train RUN_DIR` continues from the imported step 0 to the end.
    const auto t = testing::run_crossover("train " + run);
    ASSERT_EQ(t.exit_code, 0) << t.output;
    EXPECT_NE(t.output.find("(step 0)"), std::string::npos) << t.output;
    const auto events = read_metrics(run + "/metrics.jsonl");
    ASSERT_FALSE(events.empty());
    EXPECT_EQ(events.back()["kind"], "end");
    EXPECT_EQ(events.back()["status"], "finished");
    double first_loss = -1;
    for (const auto& e : events)
      if (e["kind"] == "train" && first_loss < 0) first_loss = e["loss"].get<double>();
    EXPECT_TRUE(std::isfinite(first_loss) && first_loss > 0) << first_loss;
    EXPECT_TRUE(fs::exists(run + "/checkpoints/step_00000010/model.safetensors"));
  }
}

TEST_F(HfImport, MismatchesNameTheFileTheTensorOrKeyAndBothValues) {
  ASSERT_VENV();
  const std::string hf = make_model("llama-check", "--arch llama --vocab 320");
  const std::string llama = config("llama-check", "ar",
                                   {"model.qk_norm=false", "model.tie_embeddings=false"});
  auto import = [&](const std::string& dir, const std::string& cfg, const std::string& run,
                    const std::string& sets = "") {
    return testing::run_crossover("import hf " + dir + " --config " + cfg + " --run-dir " +
                                  *dir_ / run + " " + sets);
  };
  auto expect_error = [&](const testing::CommandResult& r, const std::string& message) {
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << "expected: " << message << "\n"
                                                         << r.output;
  };

  expect_error(import(hf, llama, "e1", "--set model.heads=4"),
               hf + "/config.json: num_attention_heads is 2 but model.heads is 4 in " + llama);
  expect_error(import(hf, config("qk", "ar", {"model.tie_embeddings=false"}), "e2"),
               "a llama model has no QK-norm but model.qk_norm is true");
  // The model's head is untied: a tied run cannot hold it.
  expect_error(import(hf, llama, "e2b", "--set model.tie_embeddings=true"),
               hf +
                   "/model.safetensors: lm_head.weight is an untied head but "
                   "model.tie_embeddings is true in " +
                   llama);

  // A config.json that agrees with the run but weights that do not.
  const std::string tampered = *dir_ / "llama-tampered";
  fs::copy(hf, tampered);
  set_json(tampered + "/config.json", "intermediate_size", 64);
  expect_error(import(tampered, llama, "e3", "--set model.ffn_hidden=64"),
               tampered + "/model.safetensors: model.layers.0.mlp.gate_proj.weight has shape "
                          "[128, 32], expected [64, 32]");
  EXPECT_FALSE(fs::exists(*dir_ / "e3/checkpoints"));
  set_json(tampered + "/config.json", "intermediate_size", 128);
  set_json(tampered + "/config.json", "rope_theta", 500000.0);
  expect_error(import(tampered, llama, "e4"),
               "rope_theta is 500000 but model.rope_theta is 10000 in " + llama);
  set_json(tampered + "/config.json", "rope_theta", 10000.0);
  set_json(tampered + "/config.json", "attention_bias", true);
  expect_error(import(tampered, llama, "e5"),
               "attention_bias is true; crossover's attention has no biases");

  // A vocabulary smaller than the data's.
  const std::string small = make_model("llama-small", "--arch llama --vocab 300");
  expect_error(import(small, llama, "e6"),
               small +
                   "/model.safetensors: model.embed_tokens.weight has shape [300, 32], expected "
                   "[320 or more, 32]");

  // No weights; an existing run.
  fs::create_directories(*dir_ / "empty");
  fs::copy_file(hf + "/config.json", *dir_ / "empty/config.json");
  expect_error(import(*dir_ / "empty", llama, "e7"),
               "no model.safetensors or model.safetensors.index.json");
  const auto ok = import(hf, llama, "ok");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  expect_error(import(hf, llama, "ok"), "already has a checkpoint");
}

}  // namespace
}  // namespace crossover
