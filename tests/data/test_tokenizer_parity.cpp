// `crossover prepare --tokenizer FILE` with pretrained tokenizers gives exactly the reference
// libraries' ids: tests/python/tok_parity.py trains small tokenizer.json files in the GPT-2,
// GPT-NeoX, Llama-3, Qwen2 and SentencePiece-style layouts (Llama-2's normalizers, Mistral's
// Metaspace, Metaspace with split) and tiktoken files (cl100k, o200k regexes) with the
// project's environment, prepares a varied corpus (KJV, multilingual, emoji, whitespace runs,
// digits, specials in text, invalid UTF-8) and compares every document and meta.json.
#include <gtest/gtest.h>

#include "hf/hf_test_util.h"
#include "test_util.h"

namespace crossover {
namespace {

TEST(TokenizerParity, EveryDocumentMatchesTokenizersAndTiktoken) {
  CROSSOVER_ONCE_PER_CI();
  ASSERT_VENV();
  testing::TempDir dir;
  const auto r = testing::run_python("tok_parity.py", std::string(CROSSOVER_BINARY) + " " +
                                                          (dir.path() / "work").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto result = testing::python_result(r);
  ASSERT_TRUE(result.is_object()) << r.output;
  for (const char* name : {"gpt2", "gpt2-prefix", "neox", "llama3", "qwen2", "llama2", "mistral",
                           "metaspace-split", "tiny-cl100k", "tiny-o200k"}) {
    ASSERT_TRUE(result.contains(name)) << r.output;
    EXPECT_EQ(result[name]["mismatched_documents"], 0) << name << "\n" << r.output;
    EXPECT_GT(result[name]["documents"].get<int>(), 70) << name;
    EXPECT_TRUE(result[name]["meta_ok"].get<bool>()) << name << "\n" << r.output;
  }
}

// tests/python/tok_options.py: the Unicode-version gap (U+1E030 counted in meta.json and warned
// about; the ids where tokenizers' newer tables make it a letter), --split-special-tokens against
// tokenizers' encode_special_tokens, --eos-token and --mask-token with their refusals.
TEST(TokenizerParity, OptionsAndUnicodeGapMatchTokenizers) {
  CROSSOVER_ONCE_PER_CI();
  ASSERT_VENV();
  testing::TempDir dir;
  const auto r = testing::run_python("tok_options.py", std::string(CROSSOVER_BINARY) + " " +
                                                           (dir.path() / "work").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto result = testing::python_result(r);
  ASSERT_TRUE(result.is_object()) << r.output;
  EXPECT_EQ(result["probe"]["unassigned"], 4) << r.output;
  EXPECT_NE(result["gap"]["crossover"], result["gap"]["tokenizers"]) << r.output;
  EXPECT_NE(result["split_special_tokens"]["default"], result["split_special_tokens"]["split"]);
}

}  // namespace
}  // namespace crossover
