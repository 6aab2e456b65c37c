// `crossover export hf` of a run prepared with a pretrained tokenizer.json or a tiktoken file:
// AutoTokenizer loads the exported files (tests/python/tok_check_export.py) and encodes text to
// crossover's ids, with crossover's appended [MASK] and eos.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "crossover/config/config.h"
#include "crossover/data/prepare.h"
#include "crossover/data/tokenizer.h"
#include "crossover/hf/tiktoken_json.h"
#include "fixtures.h"
#include "hf/hf_test_util.h"

namespace crossover {
namespace {

// Prepares a corpus with `tokenizer_file`, trains a few MDM steps, exports the run and has
// AutoTokenizer encode texts (and, for a tiktoken file, the parity corpus) to crossover's ids.
nlohmann::json export_and_check(const testing::TempDir& dir, const std::string& tokenizer_file,
                                const std::string& kind, const std::string& name) {
  std::string text;
  for (int i = 0; i < 120; ++i)
    text += "In the beginning God created the heaven and the earth, " + std::to_string(i) +
            " times.  Amen.\n";
  testing::write_file(dir.path() / "corpus.txt", text);
  PrepareOptions p;
  p.inputs = {dir.path() / "corpus.txt"};
  p.out_dir = dir.path() / ("data-" + name);
  p.tokenizer = tokenizer_file;
  p.val_docs = 10;
  p.threads = 2;
  const nlohmann::json meta = prepare_corpus(p);
  EXPECT_EQ(meta["tokenizer"]["kind"], kind);

  RunConfig c = testing::tiny_config(p.out_dir, "mdm");
  c.data.total_tokens = TokenCount(4 * 8 * 32);
  c.eval.every = 4;
  const std::string cfg = dir.path() / ("run-" + name + ".yaml"),
                    run = dir.path() / ("run-" + name);
  testing::write_file(cfg, dump_config(c));
  const auto trained =
      testing::run_command(std::string(CROSSOVER_BINARY) + " train " + cfg + " --run-dir " + run);
  EXPECT_EQ(trained.exit_code, 0) << trained.output;
  const std::string out = dir.path() / ("export-" + name);
  const auto exported =
      testing::run_command(std::string(CROSSOVER_BINARY) + " export hf " + run + " --out " + out);
  EXPECT_EQ(exported.exit_code, 0) << exported.output;

  const Tokenizer tok = Tokenizer::load(run + "/data/" + Tokenizer::data_file_name(tokenizer_file));
  nlohmann::json want = {{"mask", tok.special().mask}, {"eos", tok.special().eos}};
  for (const std::string t : {"In the beginning God created", "  Amen,  Amen.\n\nCafe\u0301 42",
                              "<|endoftext|>x  y", "Grüße 😀 \t tabs", "I'LL   \n\n  end  "}) {
    want["texts"].push_back(t);
    want["ids"].push_back(tok.encode(t));
  }
  if (kind == "tiktoken") want["tiktoken"] = tokenizer_file;
  const std::string ids = dir.path() / ("ids-" + name + ".json");
  testing::write_file(ids, want.dump());
  const auto r = testing::run_python("tok_check_export.py", "check " + out + " " + ids);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return testing::python_result(r);
}

// tok_check_export.py's tokenizer files in DIR/fixtures (empty, with a failure, if it fails).
std::string make_fixtures(const testing::TempDir& dir) {
  const std::string fixtures = dir.path() / "fixtures";
  const auto made = testing::run_python("tok_check_export.py", "make " + fixtures);
  EXPECT_EQ(made.exit_code, 0) << made.output;
  return made.exit_code == 0 ? fixtures : "";
}

TEST(HfExportTokenizer, PretrainedTokenizerJsonLoadsInAutoTokenizer) {
  ASSERT_VENV();
  testing::TempDir dir;
  const std::string fixtures = make_fixtures(dir);
  ASSERT_FALSE(fixtures.empty());
  const auto result = export_and_check(dir, fixtures + "/neox.json", "huggingface", "neox");
  EXPECT_EQ(result["problems"], 0) << result;
}

// A tiktoken run exports as a byte-level tokenizer.json: AutoTokenizer gives tiktoken's
// encode_ordinary ids on every document of the parity corpus (KJV, multilingual, whitespace
// runs, digit runs, specials in text), for the cl100k and o200k regexes.
TEST(HfExportTokenizer, TiktokenRunExportsATokenizerJsonWithTiktokensIds) {
  ASSERT_VENV();
  testing::TempDir dir;
  const std::string fixtures = make_fixtures(dir);
  ASSERT_FALSE(fixtures.empty());
  for (const std::string name : {"tiny-cl100k", "tiny-o200k"}) {
    SCOPED_TRACE(name);
    const auto result = export_and_check(dir, fixtures + "/" + name + ".tiktoken", "tiktoken",
                                         name);
    EXPECT_EQ(result["problems"], 0) << result;
    EXPECT_GT(result["documents"].get<int>(), 60) << result;
  }
}

// The regex as `tokenizers` (Oniguruma) must read it: possessive intervals lose their `+`,
// `$` outside a class becomes `\z`; escapes with braces and classes are left alone.
TEST(HfExportTokenizer, TiktokenRegexIsRewrittenOnlyWhereOnigurumaReadsItOtherwise) {
  EXPECT_EQ(
      hf::tiktoken_regex_for_oniguruma(
          R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s)"),
      R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++\z|\s*[\r\n]|\s+(?!\S)|\s)");
  EXPECT_EQ(hf::tiktoken_regex_for_oniguruma(R"([$]\$[]$]a{2}b{1,}+\x{41}+)"),
            R"([$]\$[]$]a{2}b{1,}\x{41}+)");
}

}  // namespace
}  // namespace crossover
