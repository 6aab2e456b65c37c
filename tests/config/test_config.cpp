#include <gtest/gtest.h>

#include "crossover/config/config.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;
using testing::write_file;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "<no error>";
}

std::string parse_error(const std::string& yaml, const std::vector<std::string>& sets = {}) {
  return error_of([&] { parse_config(yaml, "configs/x.yaml", sets); });
}

TEST(ConfigDefaults, EverySectionHasDocumentedDefaults) {
  const RunConfig c;
  EXPECT_EQ(c.model.layers, 4);
  EXPECT_EQ(c.model.d_model, 256);
  EXPECT_EQ(c.model.heads, 4);
  EXPECT_EQ(c.model.kv_heads_resolved(), 4);
  EXPECT_EQ(c.model.ffn_hidden_resolved(), 704);  // 8/3 * 256 = 682.7 -> 704
  EXPECT_TRUE(c.model.qk_norm);
  EXPECT_TRUE(c.model.tie_embeddings);
  EXPECT_DOUBLE_EQ(c.model.init_std, 0.02);
  EXPECT_EQ(c.objective.type, ObjectiveType::kAr);
  EXPECT_DOUBLE_EQ(c.objective.eps, 1e-3);
  EXPECT_EQ(c.objective.loss_weight, LossWeight::kInverseT);
  EXPECT_TRUE(c.data.unique_tokens.is_all());
  EXPECT_EQ(c.data.total_tokens.value(), 10'000'000);
  EXPECT_EQ(c.data.seq_len, 256);
  EXPECT_DOUBLE_EQ(c.optimizer.beta2, 0.95);
  EXPECT_DOUBLE_EQ(c.optimizer.weight_decay, 0.1);
  EXPECT_EQ(c.schedule.type, LrShape::kCosine);
  EXPECT_EQ(c.training.global_batch, 16);
  EXPECT_EQ(c.eval.mc_samples, 32);
  EXPECT_EQ(c.checkpoint.keep_last, 2);
  EXPECT_EQ(c.distributed.sharding, ShardingKind::kNone);
  EXPECT_EQ(c.logging.level, LogLevel::kInfo);
  EXPECT_EQ(c.hardware.threads, 0);
  // Every default passes validation, and an empty file gives the defaults.
  EXPECT_NO_THROW(validate(c));
  EXPECT_EQ(parse_config("", "empty.yaml"), c);
  EXPECT_EQ(parse_config("model: {}\n", "x.yaml"), c);
}

TEST(ConfigDefaults, DumpDocumentsEveryKey) {
  const std::string dump = dump_config(RunConfig{});
  for (const auto& key : config_keys()) {
    const std::string leaf = key.substr(key.rfind('.') + 1);
    EXPECT_NE(dump.find("  " + leaf + ": "), std::string::npos) << key;
  }
  EXPECT_NE(dump.find("# peak learning rate"), std::string::npos);
}

TEST(ConfigLoad, ReadsEverySectionFromYaml) {
  const RunConfig c = parse_config(R"(
model: {layers: 26, d_model: 1792, heads: 14, ffn_hidden: 4736}
objective: {type: mdm, loss_weight: mask_fraction}
data: {unique_tokens: 0.5B, total_tokens: 96B, seq_len: 2048}
optimizer: {lr: 2.0e-4, min_lr: 2e-5}
schedule: {type: wsd, warmup_steps: 2000}
training: {global_batch: 256, micro_batch: 8}
eval: {tasks: [a.jsonl, b.jsonl]}
checkpoint: {every: 1000}
distributed: {sharding: fsdp}
logging: {log_every: 5}
hardware: {threads: 2, precision: bf16}
)",
                                   "x.yaml");
  EXPECT_EQ(c.model.layers, 26);
  EXPECT_EQ(c.model.head_dim(), 128);
  EXPECT_EQ(c.objective.type, ObjectiveType::kMdm);
  EXPECT_EQ(c.data.unique_tokens.value(), 500'000'000);
  EXPECT_EQ(c.data.total_tokens.value(), 96'000'000'000);
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 2e-4);
  EXPECT_EQ(c.schedule.type, LrShape::kWsd);
  EXPECT_EQ(c.training.micro_batch, 8);
  EXPECT_EQ(c.eval.tasks, (std::vector<std::string>{"a.jsonl", "b.jsonl"}));
  EXPECT_EQ(c.distributed.sharding, ShardingKind::kFsdp);
  EXPECT_EQ(c.hardware.precision, PrecisionChoice::kBf16);
}

TEST(ConfigErrors, WrongTypeNamesFileLineAndKey) {
  EXPECT_EQ(parse_error("model:\n  layers: 2\n\noptimizer:\n  lr: fast\n"),
            "configs/x.yaml:5: optimizer.lr: expected a positive number, got \"fast\"");
  EXPECT_EQ(parse_error("model:\n  layers: 2.5\n"),
            "configs/x.yaml:2: model.layers: expected a positive integer, got \"2.5\"");
  EXPECT_EQ(parse_error("model:\n  qk_norm: maybe\n"),
            "configs/x.yaml:2: model.qk_norm: expected true or false, got \"maybe\"");
  EXPECT_EQ(parse_error("eval:\n  tasks: a.jsonl\n"),
            "configs/x.yaml:2: eval.tasks: expected a list of strings, got \"a.jsonl\"");
  EXPECT_EQ(parse_error("data:\n  total_tokens: lots\n"),
            "configs/x.yaml:2: data.total_tokens: expected a positive token count (an integer, "
            "50k, 1.5M, 2B, or all), got \"lots\"");
  EXPECT_EQ(parse_error("optimizer:\n  lr:\n"),
            "configs/x.yaml:2: optimizer.lr: expected a positive number, got nothing");
  EXPECT_EQ(parse_error("optimizer: 3\n"),
            "configs/x.yaml:1: optimizer: expected a mapping of keys, got \"3\"");
}

TEST(ConfigErrors, OutOfRangeValues) {
  EXPECT_EQ(parse_error("optimizer:\n  lr: -1\n"),
            "configs/x.yaml:2: optimizer.lr: expected a positive number, got \"-1\"");
  EXPECT_EQ(parse_error("optimizer:\n  beta2: 1.0\n"),
            "configs/x.yaml:2: optimizer.beta2: expected a number in [0, 1), got \"1.0\"");
  EXPECT_EQ(parse_error("objective:\n  type: gpt\n"),
            "configs/x.yaml:2: objective.type: expected one of ar, mdm, got \"gpt\"");
  EXPECT_EQ(parse_error("optimizer:\n  lr: .inf\n"),
            "configs/x.yaml:2: optimizer.lr: expected a positive number, got \".inf\"");
  EXPECT_EQ(parse_error("model:\n  d_model: 256\n  heads: 7\n"),
            "configs/x.yaml:3: model.heads: must divide model.d_model (256), got 7");
  EXPECT_EQ(parse_error("model:\n  heads: 8\n  kv_heads: 3\n"),
            "configs/x.yaml:3: model.kv_heads: must divide model.heads (8), got 3");
  EXPECT_EQ(parse_error("optimizer: {lr: 1e-4, min_lr: 1e-3}\n"),
            "configs/x.yaml:1: optimizer.min_lr: must not exceed optimizer.lr (0.0001), got 0.001");
}

TEST(ConfigErrors, UnknownAndDuplicateKeys) {
  EXPECT_EQ(parse_error("optimizer:\n  lrr: 1e-3\n"),
            "configs/x.yaml:2: optimizer.lrr: unknown key (did you mean optimizer.lr?)");
  EXPECT_EQ(parse_error("optimiser:\n  lr: 1e-3\n"),
            "configs/x.yaml:1: optimiser: unknown key (did you mean optimizer?)");
  EXPECT_EQ(parse_error("model:\n  flux_capacitor: 3\n"),
            "configs/x.yaml:2: model.flux_capacitor: unknown key");
  EXPECT_EQ(parse_error("model:\n  layers: 2\n  layers: 3\n"),
            "configs/x.yaml:3: model.layers: duplicate key");
}

TEST(ConfigErrors, MalformedYamlAndMissingFile) {
  const std::string e = parse_error("model:\n  layers: [2\n");
  EXPECT_EQ(e.rfind("configs/x.yaml:", 0), 0u) << e;
  EXPECT_NE(e.find("malformed YAML"), std::string::npos) << e;
  EXPECT_EQ(parse_error("- a\n- b\n"),
            "configs/x.yaml:1: expected a mapping of sections (model:, data:, ...), got a list");
  EXPECT_EQ(error_of([] { load_config("/nonexistent/run.yaml"); }),
            "/nonexistent/run.yaml: cannot open config file (does it exist?)");
}

TEST(ConfigOverride, SetsNestedKeysWithTheSameValidation) {
  const RunConfig c = parse_config("optimizer:\n  lr: 1e-3\n", "x.yaml",
                                   {"optimizer.lr=3e-4", "model.qk_norm=false",
                                    "data.unique_tokens=50k", "eval.tasks=[t.jsonl]"});
  EXPECT_DOUBLE_EQ(c.optimizer.lr, 3e-4);
  EXPECT_FALSE(c.model.qk_norm);
  EXPECT_EQ(c.data.unique_tokens.value(), 50'000);
  EXPECT_EQ(c.eval.tasks, std::vector<std::string>{"t.jsonl"});

  EXPECT_EQ(parse_error("", {"optimizer.lr=fast"}),
            "--set optimizer.lr=fast: optimizer.lr: expected a positive number, got \"fast\"");
  EXPECT_EQ(parse_error("", {"optimizer.lrr=1"}),
            "--set optimizer.lrr=1: optimizer.lrr: unknown key (did you mean optimizer.lr?)");
  EXPECT_EQ(parse_error("", {"optimiser.lr=1"}),
            "--set optimiser.lr=1: optimiser.lr: unknown key (did you mean optimizer?)");
  EXPECT_EQ(parse_error("", {"optimizer=1"}),
            "--set optimizer=1: optimizer: is a section; set one of its keys, e.g. "
            "optimizer.<key>");
  EXPECT_EQ(parse_error("", {"optimizer.lr.x=1"}),
            "--set optimizer.lr.x=1: optimizer.lr: is a value, not a section; it has no key x");
  EXPECT_EQ(parse_error("", {"optimizer.lr"}), "--set optimizer.lr: expected key.path=value");
  // Cross-field checks see the override and blame it.
  EXPECT_EQ(parse_error("", {"model.heads=3"}),
            "--set model.heads=3: model.heads: must divide model.d_model (256), got 3");

  RunConfig d;
  apply_override(d, "training.seed=7");
  EXPECT_EQ(d.training.seed, 7);
  EXPECT_THROW(apply_override(d, "training.seed=-1"), ConfigError);
  EXPECT_EQ(d.training.seed, 7);  // a rejected override changes nothing
}

TEST(ConfigRoundTrip, LoadOfDumpIsIdentity) {
  RunConfig c;
  c.model.layers = 26;
  c.model.rope_theta = 500000.0;
  c.model.norm_eps = 1e-5;
  c.objective.type = ObjectiveType::kMdm;
  c.objective.eps = 1e-3;
  c.data.path = "data/my corpus: v2";  // needs quoting in YAML
  c.data.unique_tokens = TokenCount(123'456'789);
  c.optimizer.lr = 0.1 + 0.2;  // not exactly representable in short decimal
  c.optimizer.min_lr = 1.0 / 3.0 * 1e-4;
  c.eval.tasks = {"tasks/hellaswag.jsonl", "x y.jsonl"};
  c.hardware.peak_tflops = 989.5;
  for (bool comments : {true, false}) {
    const RunConfig back = parse_config(dump_config(c, comments), "dump.yaml");
    EXPECT_EQ(back, c);
    EXPECT_TRUE(config_differences(back, c).empty());
  }
  RunConfig other = c;
  other.model.d_model = 512;
  other.objective.type = ObjectiveType::kAr;
  EXPECT_EQ(config_differences(c, other),
            (std::vector<std::string>{"model.d_model", "objective.type"}));
}

TEST(ConfigFile, LoadsFromDiskWithOverrides) {
  TempDir dir;
  write_file(dir / "run.yaml", "model:\n  layers: 2\n");
  const RunConfig c = load_config(dir / "run.yaml", {"model.layers=3"});
  EXPECT_EQ(c.model.layers, 3);
  write_file(dir / "bad.yaml", "\n\nmodel:\n  layers: zero\n");
  EXPECT_EQ(error_of([&] { load_config(dir / "bad.yaml"); }),
            (dir / "bad.yaml") + ":4: model.layers: expected a positive integer, got \"zero\"");
}

TEST(TokenCountParse, AcceptsResearcherNotation) {
  EXPECT_EQ(TokenCount::parse("123")->value(), 123);
  EXPECT_EQ(TokenCount::parse("50k")->value(), 50'000);
  EXPECT_EQ(TokenCount::parse("1.5M")->value(), 1'500'000);
  EXPECT_EQ(TokenCount::parse("0.5B")->value(), 500'000'000);
  EXPECT_EQ(TokenCount::parse("96B")->value(), 96'000'000'000);
  EXPECT_EQ(TokenCount::parse("1e9")->value(), 1'000'000'000);
  EXPECT_EQ(TokenCount::parse("1_000_000")->value(), 1'000'000);
  EXPECT_TRUE(TokenCount::parse("all")->is_all());
  EXPECT_FALSE(TokenCount::parse("1.0005k"));
  EXPECT_FALSE(TokenCount::parse("-5"));
  EXPECT_FALSE(TokenCount::parse("many"));
  EXPECT_FALSE(TokenCount::parse(""));
  for (const char* s : {"all", "0", "96000000000"}) EXPECT_EQ(TokenCount::parse(s)->str(), s);
}

}  // namespace
}  // namespace crossover

namespace crossover {
namespace {

TEST(ConfigErrors, StringsMustBeUtf8SoTheRunDirectoryCopyReadsBackTheSame) {
  // The YAML emitter replaces bytes that are not UTF-8, so such a value could not survive
  // config.yaml; it is refused where it is read.
  for (const std::string text : {std::string("eval:\n  tasks: [\"a\\f\xe9\xff b\"]\n"),
                                 std::string("data:\n  path: \"d\xc3\"\n")}) {
    try {
      parse_config(text, "u.yaml");
      ADD_FAILURE() << "accepted: " << text;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("u.yaml:2: "), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(parse_config("data:\n  path: \"d\xc3\xa9\"\n", "u.yaml").data.path, "d\xc3\xa9");
}

}  // namespace
}  // namespace crossover

namespace crossover {
namespace {

// docs/configuration.md is generated from the config list; a key added, renamed or documented
// anew without regenerating the page fails here.
TEST(ConfigReference, CommittedPageIsTheGeneratedOne) {
  const std::string committed = testing::read_file(testing::source_path("docs/configuration.md"));
  EXPECT_TRUE(committed == config_reference())
      << "docs/configuration.md is out of date: run `crossover config docs --out "
         "docs/configuration.md` and commit it";
}

TEST(ConfigReference, EveryKeyHasARowWithItsDefaultAndRule) {
  const std::string page = config_reference();
  for (const auto& key : config_keys())
    EXPECT_NE(page.find("| `" + key + "` | `" + config_value(RunConfig{}, key)), std::string::npos)
        << key;
  EXPECT_NE(page.find("| `optimizer.lr` | `0.0003` | a positive number |"), std::string::npos)
      << page.substr(0, 2000);
}

}  // namespace
}  // namespace crossover
