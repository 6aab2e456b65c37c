// The pieces of the pretrained-tokenizer pipeline (data/tokenizer_bpe.h) against small tables:
// the byte-level alphabet, UTF-8 repair as Python's decode('utf-8', 'replace'), added-token
// splitting, BPE merge order, and the \s rewrite. Whole-file parity with `tokenizers` and
// tiktoken is test_tokenizer_parity.cpp.
#include <gtest/gtest.h>

#include <filesystem>

#include "crossover/data/tokenizer.h"
#include "crossover/data/tokenizer_bpe.h"
#include "test_util.h"

namespace crossover::bpe {
namespace {

TEST(TokenizerBpe, ByteLevelAlphabet) {
  EXPECT_EQ(byte_to_codepoint('!'), uint32_t('!'));
  EXPECT_EQ(byte_to_codepoint('~'), uint32_t('~'));
  EXPECT_EQ(byte_to_codepoint(0xA1), 0xA1u);
  EXPECT_EQ(byte_to_codepoint(0x00), 0x100u);
  EXPECT_EQ(byte_to_codepoint(' '), 0x120u);   // GPT-2's "Ġ"
  EXPECT_EQ(byte_to_codepoint('\n'), 0x10Au);  // "Ċ"
  EXPECT_EQ(byte_to_codepoint(0xAD), 0x143u);  // the last one
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(byte_level_decode(byte_level_encode(all), &back));
  EXPECT_EQ(back, all);
  EXPECT_EQ(byte_level_encode(" hello"), "\xC4\xA0hello");
  EXPECT_FALSE(byte_level_decode("a b", &back));  // a raw space is not in the alphabet
  EXPECT_FALSE(byte_level_decode("\xE2\x82\xAC", &back));
}

TEST(TokenizerBpe, Utf8RepairMatchesPythonReplace) {
  const std::string r = "\xEF\xBF\xBD";  // U+FFFD
  // Expected values: bytes.decode("utf-8", "replace") in Python 3.11.
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"abc", "abc"},
      {"\xC3\xA9", "\xC3\xA9"},
      {"abc\xFF"
       "def",
       "abc" + r + "def"},
      {"\xC3\x28", r + "("},
      {"\xE2\x82", r},
      {"\xF0\x9F\x98X", r + "X"},
      {"\xED\xA0\x80", r + r + r},  // a surrogate: ED alone is the maximal subpart
      {"\xC0\xAF", r + r},
      {"\xE0\x80\xAF", r + r + r},
      {"\xF4\x90\x80\x80", r + r + r + r},
      {"\xF8\x88\x80\x80\x80", r + r + r + r + r},
      {"\xE2\x82\xAC\x80\x80", "\xE2\x82\xAC" + r + r},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(repair_utf8(in), want) << ::testing::PrintToString(in);
    EXPECT_EQ(valid_utf8(in), in == want) << ::testing::PrintToString(in);
  }
}

std::vector<std::string> pieces(const AddedTokenMatcher& m, const std::string& text) {
  std::vector<std::string> out;
  for (const Segment& s : m.split(text))
    out.push_back((s.id >= 0 ? "#" + std::to_string(s.id) + ":" : "") +
                  text.substr(s.begin, s.end - s.begin));
  return out;
}

TEST(TokenizerBpe, AddedTokensLeftmostLongest) {
  AddedTokenMatcher m({{"<a>", 1}, {"<a><b>", 2}, {"ab", 3}, {"bc", 4}});
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces(m, "x<a><b>y<a>"), (V{"x", "#2:<a><b>", "y", "#1:<a>"}));
  EXPECT_EQ(pieces(m, "abc"), (V{"#3:ab", "c"}));  // leftmost wins over a later overlap
  EXPECT_EQ(pieces(m, "zbc"), (V{"z", "#4:bc"}));
  EXPECT_EQ(pieces(m, ""), (V{""}));
}

TEST(TokenizerBpe, AddedTokensStripAndSingleWord) {
  AddedToken sep{"<s>", 7};
  sep.lstrip = sep.rstrip = true;
  AddedToken amen{"Amen", 8};
  amen.single_word = true;
  AddedTokenMatcher m({sep, amen});
  using V = std::vector<std::string>;
  EXPECT_EQ(pieces(m, "x \t<s>  y"), (V{"x", "#7: \t<s>  ", "y"}));
  EXPECT_EQ(pieces(m, "xAmen Amen, Amenx"), (V{"xAmen ", "#8:Amen", ", Amenx"}));
}

TEST(TokenizerBpe, MergesLowestRankFirstThenLeftmost) {
  const std::unordered_map<std::string, int32_t> vocab = {
      {"a", 0}, {"b", 1}, {"c", 2}, {"ab", 3}, {"bc", 4}, {"abc", 5}, {"aa", 6}};
  auto encode = [&](const BpeModel& m, const std::string& s) {
    std::vector<int32_t> ids;
    m.encode_piece(s, &ids);
    return ids;
  };
  using V = std::vector<int32_t>;
  const BpeModel bc_first(vocab, {{"b", "c"}, {"a", "b"}, {"a", "bc"}, {"a", "a"}}, {}, "t");
  EXPECT_EQ(encode(bc_first, "abc"), (V{5}));
  EXPECT_EQ(encode(bc_first, "ab"), (V{3}));
  EXPECT_EQ(encode(bc_first, "aaa"), (V{6, 0}));  // equal ranks: the leftmost pair first
  EXPECT_EQ(encode(bc_first, "aaaa"), (V{6, 6}));
  const BpeModel ab_first(vocab, {{"a", "b"}, {"b", "c"}}, {}, "t");
  EXPECT_EQ(encode(ab_first, "abc"), (V{3, 2}));  // no ab+c merge
  BpeModel::Options whole;
  whole.ignore_merges = true;
  const BpeModel ignoring(vocab, {{"a", "b"}, {"b", "c"}}, whole, "t");
  EXPECT_EQ(encode(ignoring, "abc"), (V{5}));  // a whole token needs no merges
  EXPECT_THROW(BpeModel(vocab, {{"c", "a"}}, {}, "t"), std::runtime_error);  // "ca" missing
}

TEST(TokenizerBpe, TiktokenRanksMergeByConcatenation) {
  std::unordered_map<std::string, int32_t> ranks;
  for (int b = 0; b < 256; ++b) ranks[std::string(1, static_cast<char>(b))] = b;
  ranks["ab"] = 256;
  ranks["abc"] = 257;
  ranks["zab"] = 258;
  const BpeModel m = BpeModel::from_ranks(ranks, "t");
  auto encode = [&](const std::string& s) {
    std::vector<int32_t> ids;
    m.encode_piece(s, &ids);
    return ids;
  };
  using V = std::vector<int32_t>;
  EXPECT_EQ(encode("abc"), (V{257}));
  // z,a,b,c -> z,ab,c (256) -> z,abc (257) before zab (258)
  EXPECT_EQ(encode("zabc"), (V{'z', 257}));
  EXPECT_EQ(encode("zab"), (V{258}));
}

TEST(TokenizerBpe, WhitespaceClassIsUnicodeWhiteSpace) {
  EXPECT_EQ(rewrite_whitespace_classes(R"(\s+(?!\S)|[^\s\p{L}]|\\s)"),
            R"([\t-\r\x{85}\p{Z}]+(?![^\t-\r\x{85}\p{Z}])|[^\t-\r\x{85}\p{Z}\p{L}]|\\s)");
  const Regex space(R"(\s+)", false, "t");
  std::vector<std::string> found;
  // U+180E is White_Space for PCRE2's \s only; NBSP, NEL and U+3000 are for both references.
  const std::string text = "a\xE1\xA0\x8E"
                           "b\xC2\xA0"
                           "c\xC2\x85"
                           "d\xE3\x80\x80";
  space.for_each_match(text, [&](size_t b, size_t e) { found.push_back(text.substr(b, e - b)); });
  EXPECT_EQ(found, (std::vector<std::string>{"\xC2\xA0", "\xC2\x85", "\xE3\x80\x80"}));
}

TEST(TokenizerBpe, LoadErrorsNameTheFile) {
  crossover::testing::TempDir dir;
  const std::string unigram = (dir.path() / "unigram.json").string();
  crossover::testing::write_file(unigram, R"({"model": {"type": "Unigram", "vocab": []}})");
  try {
    Tokenizer::load(unigram);
    FAIL() << "loaded a unigram tokenizer.json";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(unigram + ": model.type Unigram"), std::string::npos)
        << e.what();
  }
  const std::string tik = (dir.path() / "mystery.tiktoken").string();
  crossover::testing::write_file(tik, "YQ== 0\n");
  try {
    Tokenizer::load(tik);
    FAIL() << "loaded a tiktoken file of no known encoding";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown tiktoken encoding \"mystery\""),
              std::string::npos)
        << e.what();
  }
}

// PCRE2's \p{Cn}: U+1E030 (Unicode 15) is unassigned in Debian 12's Unicode 14 tables, a
// noncharacter in every version; ill-formed bytes are repaired to U+FFFD (assigned) first.
TEST(TokenizerBpe, CountsCodePointsUnassignedInPcre2Tables) {
  EXPECT_EQ(count_unassigned_codepoints("plain ASCII"), 0);
  EXPECT_EQ(count_unassigned_codepoints("caf\xC3\xA9 \xF0\x9F\x98\x80"), 0);  // é, emoji
  EXPECT_EQ(count_unassigned_codepoints("\xEF\xBF\xBF"), 1);                  // U+FFFF
  EXPECT_EQ(count_unassigned_codepoints("\xff\xfe bad \xEF\xBF\xBE"), 1);     // U+FFFE
  if (pcre2_unicode_version().rfind("14.", 0) == 0)
    EXPECT_EQ(count_unassigned_codepoints("a\xF0\x9E\x80\xB0\xF0\x9E\x80\xB0"
                                          "b"),
              2);
}

}  // namespace
}  // namespace crossover::bpe
