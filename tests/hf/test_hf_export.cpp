// `crossover export hf` checked by transformers itself: tiny AR and MDM runs (and a 2-process
// fsdp run) are exported, loaded with AutoModelForCausalLM/AutoTokenizer by
// tests/python/hf_check_export.py, and compared with crossover's logits, validation NLL and
// tokenizer; then export -> import must give back the very same model.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cstdio>
#include <filesystem>
#include <set>

#include "crossover/data/sampler.h"
#include "crossover/data/token_store.h"
#include "crossover/data/tokenizer.h"
#include "crossover/util/metrics.h"
#include "crossover/util/safetensors.h"
#include "fixtures.h"
#include "hf/hf_test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class HfExport : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    data_ = testing::make_data(*dir_);
  }
  static void TearDownTestSuite() { delete dir_; }

  // A tiny run (40 steps) with `sets` applied; `launch` runs it as 2 fsdp processes.
  static std::string train(const std::string& name, const std::string& objective,
                           const std::vector<std::string>& sets, bool fsdp = false) {
    RunConfig c = testing::tiny_config(data_, objective);
    for (const auto& s : sets) apply_override(c, s);
    const std::string cfg = *dir_ / (name + ".yaml"), run = *dir_ / name;
    testing::write_file(cfg, dump_config(c));
    const std::string train = std::string(CROSSOVER_BINARY) + " train " + cfg + " --run-dir " + run;
    const auto r = testing::run_command(fsdp ? testing::source_path("scripts/cluster/launch.sh") +
                                                   " -n 2 -- " + train +
                                                   " --set distributed.sharding=fsdp"
                                             : train);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return run;
  }

  // The final validation loss the trainer logged (the checkpoint's, at the last step).
  static double final_val_loss(const std::string& run) {
    double v = -1;
    for (const auto& e : read_metrics(run + "/metrics.jsonl"))
      if (e["kind"] == "eval") v = e["val_loss"].get<double>();
    return v;
  }

  // REF for hf_check_export.py: ids (the first validation windows; for MDM every third
  // position is [MASK]), crossover's logits for them, and the validation windows.
  static std::string write_reference(const std::string& run, bool causal) {
    const RunConfig c = load_config(run + "/config.yaml");
    const auto store = TokenStore::open(c.data.path + "/val.bin");
    const Tokenizer tok = Tokenizer::load(run + "/data/tokenizer.model");
    const at::Tensor windows = validation_sequences(store, tok.special().eos, c.data.seq_len,
                                                    c.eval.val_sequences);
    at::Tensor ids = windows.narrow(0, 0, 2).narrow(1, 0, c.data.seq_len).clone();
    if (!causal)
      ids.masked_fill_(at::arange(c.data.seq_len, at::kLong).remainder(3).eq(1).unsqueeze(0),
                       tok.vocab_size());
    const at::Tensor logits = testing::crossover_logits(run, ids, causal);
    const std::string ref = run + "-ref.safetensors";
    safetensors::write(ref, {{"ids", ids}, {"logits", logits}, {"val_windows", windows}});
    return ref;
  }

  // TOKENS for hf_check_export.py: texts and crossover's ids and special ids.
  static std::string write_tokens(const std::string& run) {
    const Tokenizer tok = Tokenizer::load(run + "/data/tokenizer.model");
    const std::vector<std::string> texts = {
        "the lord said unto moses and his people went out of egypt",
        "amen 7.\nthe land",
        " a leading space, two  spaces and a trailing one ",
        "digits 2024 and 3.14159",
        "bytes the vocabulary lacks: \xc3\x9c"
        "ber caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80",
        "tab\tand\n\nblank line"};
    nlohmann::json j;
    j["texts"] = texts;
    for (const auto& t : texts) j["ids"].push_back(tok.encode(t));
    const SpecialIds& s = tok.special();
    j["special"] = {{"pad", s.pad}, {"unk", s.unk}, {"bos", s.bos}, {"eos", s.eos}};
    const std::string path = run + "-tokens.json";
    testing::write_file(path, j.dump());
    return path;
  }

  // Runs the transformers check; returns its RESULT object.
  static nlohmann::json check(const std::string& exported, const std::string& run,
                              const std::string& objective, const std::string& arch) {
    const bool causal = objective == "ar";
    std::string args = exported + " --ref " + write_reference(run, causal) + " --objective " +
                       objective + " --arch " + arch + " --tokens " + write_tokens(run);
    if (causal) args += " --val-loss " + nlohmann::json(final_val_loss(run)).dump();  // every digit
    const auto r = testing::run_python("hf_check_export.py", args);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const auto result = testing::python_result(r);
    EXPECT_TRUE(result.is_object()) << r.output;
    std::printf("%s %s: %s\n", objective.c_str(), arch.c_str(), result.dump().c_str());
    return result;
  }

  static void expect_close(const nlohmann::json& result) {
    for (const char* impl : {"eager", "sdpa"})
      EXPECT_LE(result["max_abs_logit_diff"][impl].get<double>(), 1e-4) << impl;
  }

  // Every parameter of two runs' latest checkpoints, bit for bit, and their logits.
  static void expect_same_model(const std::string& a, const std::string& b, bool causal) {
    LoadOptions lo;
    lo.device = DeviceChoice::kCpu;
    lo.precision = PrecisionChoice::kFp32;
    const LoadedModel ma = load_model(a, lo), mb = load_model(b, lo);
    ASSERT_EQ(ma.flats.size(), mb.flats.size());
    for (size_t g = 0; g < ma.flats.size(); ++g)
      EXPECT_TRUE(at::equal(ma.flats[g], mb.flats[g])) << "group " << g;
    const at::Tensor ids = at::arange(64, at::kLong).remainder(ma.model->vocab() + 1).view({2, 32});
    EXPECT_TRUE(at::equal(testing::crossover_logits(a, ids, causal),
                          testing::crossover_logits(b, ids, causal)));
  }

  static TempDir* dir_;
  static std::string data_;
};
TempDir* HfExport::dir_ = nullptr;
std::string HfExport::data_;

TEST_F(HfExport, ArRunLoadsAsQwen3WithCrossoversLogitsValidationNllAndTokenizer) {
  ASSERT_VENV();
  const std::string run = train("ar", "ar", {});  // qk_norm and a tied head by default
  const std::string out = *dir_ / "ar-hf";
  const auto r = testing::run_crossover("export hf " + run + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("exported step 40 of " + run + " as Qwen3ForCausalLM"), std::string::npos)
      << r.output;
  for (const char* f : {"config.json", "model.safetensors", "generation_config.json",
                        "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"})
    EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  EXPECT_FALSE(fs::exists(out + "/model.safetensors.index.json"));
  // Tied: transformers ties lm_head to the embedding, so the file holds no head.
  const safetensors::File weights(out + "/model.safetensors");
  EXPECT_FALSE(weights.contains("lm_head.weight"));
  EXPECT_EQ(weights.entry("model.embed_tokens.weight").shape, (std::vector<int64_t>{321, 32}));
  EXPECT_TRUE(weights.contains("model.layers.1.self_attn.q_norm.weight"));

  const auto result = check(out, run, "ar", "Qwen3ForCausalLM");
  expect_close(result);
  EXPECT_NEAR(result["val_nll_transformers"].get<double>(), final_val_loss(run), 1e-4);
  EXPECT_EQ(result["tokenizer"], "LlamaTokenizerFast");

  // bfloat16 weights (half the bytes), an earlier step, and a directory that is not empty.
  const std::string half = *dir_ / "ar-hf-bf16";
  ASSERT_EQ(
      testing::run_crossover("export hf " + run + " --dtype bfloat16 --out " + half).exit_code, 0);
  const safetensors::File half_weights(half + "/model.safetensors");
  EXPECT_EQ(half_weights.entry("model.norm.weight").dtype, "BF16");
  EXPECT_TRUE(at::equal(half_weights.tensor("model.layers.0.mlp.up_proj.weight"),
                        weights.tensor("model.layers.0.mlp.up_proj.weight").to(at::kBFloat16)));
  EXPECT_EQ(nlohmann::json::parse(testing::read_file(half + "/config.json"))["torch_dtype"],
            "bfloat16");
  ASSERT_EQ(testing::run_crossover("export hf " + run + " --step 20 --out " + *dir_ / "ar-hf-20")
                .exit_code,
            0);
  const auto config = nlohmann::json::parse(testing::read_file(*dir_ / "ar-hf-20/config.json"));
  EXPECT_EQ(config["crossover"]["step"], 20);
  const auto again = testing::run_crossover("export hf " + run + " --out " + out);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find(out + ": exists and is not empty"), std::string::npos)
      << again.output;
  const auto bad = testing::run_crossover("export hf " + run + " --out " + *dir_ / "x" +
                                          " --max-shard-size 5XB");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("5XB"), std::string::npos) << bad.output;
}

TEST_F(HfExport, MdmRunLoadsAsShardedLlamaWithBidirectionalLogitsUnderAFullMask) {
  ASSERT_VENV();
  // No QK-norm (Llama), an untied head and grouped-query attention (4 query heads on 2 key/value
  // heads, so the order of the groups matters).
  const std::string run = train(
      "mdm", "mdm",
      {"model.qk_norm=false", "model.tie_embeddings=false", "model.heads=4", "model.kv_heads=2"});
  const std::string out = *dir_ / "mdm-hf";
  const auto r =
      testing::run_crossover("export hf " + run + " --out " + out + " --max-shard-size 20KB");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("as LlamaForCausalLM"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
  const auto index =
      nlohmann::json::parse(testing::read_file(out + "/model.safetensors.index.json"));
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items())
    files.insert(file.get<std::string>());
  EXPECT_GT(files.size(), 2u);
  for (const auto& f : files) EXPECT_TRUE(fs::exists(out + "/" + f)) << f;
  // The untied head gains a zero [MASK] row, so transformers' vocab_size fits both matrices.
  const safetensors::File head(out + "/" +
                               index["weight_map"]["lm_head.weight"].get<std::string>());
  const at::Tensor w = head.tensor("lm_head.weight");
  EXPECT_EQ(w.sizes().vec(), (std::vector<int64_t>{321, 32}));
  EXPECT_TRUE(at::equal(w[320], at::zeros({32})));

  const auto tok = nlohmann::json::parse(testing::read_file(out + "/tokenizer_config.json"));
  EXPECT_EQ(tok["mask_token"], "[MASK]");
  EXPECT_EQ(tok["added_tokens_decoder"]["320"]["content"], "[MASK]");

  expect_close(check(out, run, "mdm", "LlamaForCausalLM"));
}

TEST_F(HfExport, FsdpCheckpointExportsWithoutConsolidation) {
  ASSERT_VENV();
  const std::string run = train("fsdp", "ar", {}, /*fsdp=*/true);
  const std::string ckpt = run + "/checkpoints/step_00000040";
  ASSERT_TRUE(fs::exists(ckpt + "/model.rank00000-of-00002.safetensors"));
  ASSERT_FALSE(fs::exists(ckpt + "/model.safetensors"));
  const std::string out = *dir_ / "fsdp-hf";
  const auto r = testing::run_crossover("export hf " + run + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto result = check(out, run, "ar", "Qwen3ForCausalLM");
  expect_close(result);
  EXPECT_NEAR(result["val_nll_transformers"].get<double>(), final_val_loss(run), 1e-4);
}

TEST_F(HfExport, ExportThenImportGivesTheSameModel) {
  for (const std::string objective : {"ar", "mdm"}) {
    // AR: Qwen3 with a tied head; MDM: Llama with an untied head and GQA.
    const std::vector<std::string> sets =
        objective == "ar"
            ? std::vector<std::string>{}
            : std::vector<std::string>{"model.qk_norm=false", "model.tie_embeddings=false",
                                       "model.heads=4", "model.kv_heads=2"};
    const std::string run = train("trip-" + objective, objective, sets);
    const std::string out = *dir_ / ("trip-" + objective + "-hf"),
                      back = *dir_ / ("trip-" + objective + "-back");
    ASSERT_EQ(
        testing::run_crossover("export hf " + run + " --out " + out + " --max-shard-size 30KB")
            .exit_code,
        0);
    const auto r = testing::run_crossover("import hf " + out + " --config " + run +
                                          "/config.yaml --run-dir " + back);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    // The export names [MASK]'s id, so its own row comes back rather than a mean.
    EXPECT_NE(r.output.find("[MASK] row: row 320 of the checkpoint"), std::string::npos)
        << r.output;
    expect_same_model(run, back, objective == "ar");
    if (objective != "ar") continue;
    // An AR export's [MASK] row only holds its initialisation: --mask-row mean replaces it.
    const std::string mean = *dir_ / "trip-ar-mean";
    const auto m = testing::run_crossover("import hf " + out + " --config " + run +
                                          "/config.yaml --run-dir " + mean + " --mask-row mean");
    ASSERT_EQ(m.exit_code, 0) << m.output;
    EXPECT_NE(m.output.find("[MASK] row: the mean of the 320 embedding rows"), std::string::npos)
        << m.output;
    const at::Tensor emb = safetensors::File(mean + "/checkpoints/step_00000000/model.safetensors")
                               .tensor("tok_embeddings");
    EXPECT_TRUE(at::allclose(emb[320], emb.narrow(0, 0, 320).mean(0), 0, 1e-7));
    const at::Tensor kept = safetensors::File(back + "/checkpoints/step_00000000/model.safetensors")
                                .tensor("tok_embeddings");
    EXPECT_TRUE(at::equal(kept.narrow(0, 0, 320), emb.narrow(0, 0, 320)));
    EXPECT_FALSE(at::allclose(kept[320], emb[320]));  // auto kept the checkpoint's own row
  }
}

}  // namespace
}  // namespace crossover
