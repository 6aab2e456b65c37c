// `crossover export hf` of a run prepared with a pretrained tokenizer.json: AutoTokenizer loads
// the exported files (tests/python/tok_check_export.py) and encodes text to crossover's ids,
// with crossover's appended [MASK] and eos.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "crossover/config/config.h"
#include "crossover/data/prepare.h"
#include "crossover/data/tokenizer.h"
#include "fixtures.h"
#include "hf/hf_test_util.h"

namespace crossover {
namespace {

TEST(HfExportTokenizer, PretrainedTokenizerJsonLoadsInAutoTokenizer) {
  ASSERT_VENV();
  testing::TempDir dir;
  const std::string fixtures = dir.path() / "fixtures";
  const auto made = testing::run_python("tok_check_export.py", "make " + fixtures);
  ASSERT_EQ(made.exit_code, 0) << made.output;

  std::string text;
  for (int i = 0; i < 120; ++i)
    text += "In the beginning God created the heaven and the earth, " + std::to_string(i) +
            " times.  Amen.\n";
  testing::write_file(dir.path() / "corpus.txt", text);
  PrepareOptions p;
  p.inputs = {dir.path() / "corpus.txt"};
  p.out_dir = dir.path() / "data";
  p.tokenizer = fixtures + "/neox.json";
  p.val_docs = 10;
  p.threads = 2;
  const nlohmann::json meta = prepare_corpus(p);
  EXPECT_EQ(meta["tokenizer"]["kind"], "huggingface");

  RunConfig c = testing::tiny_config(p.out_dir, "mdm");
  c.data.total_tokens = TokenCount(4 * 8 * 32);
  c.eval.every = 4;
  const std::string cfg = dir.path() / "run.yaml", run = dir.path() / "run";
  testing::write_file(cfg, dump_config(c));
  const auto trained =
      testing::run_command(std::string(CROSSOVER_BINARY) + " train " + cfg + " --run-dir " + run);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const std::string out = dir.path() / "export";
  const auto exported =
      testing::run_command(std::string(CROSSOVER_BINARY) + " export hf " + run + " --out " + out);
  ASSERT_EQ(exported.exit_code, 0) << exported.output;

  const Tokenizer tok = Tokenizer::load(run + "/data/tokenizer.json");
  nlohmann::json want = {{"mask", tok.special().mask}, {"eos", tok.special().eos}};
  for (const std::string t : {"In the beginning God created", "  Amen,  Amen.\n\nCafe\u0301 42",
                              "<|endoftext|>x  y", "Grüße 😀 \t tabs"}) {
    want["texts"].push_back(t);
    want["ids"].push_back(tok.encode(t));
  }
  const std::string ids = dir.path() / "ids.json";
  testing::write_file(ids, want.dump());
  const auto r = testing::run_python("tok_check_export.py", "check " + out + " " + ids);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(testing::python_result(r)["problems"], 0) << r.output;
}

}  // namespace
}  // namespace crossover
