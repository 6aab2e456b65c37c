#include <gtest/gtest.h>

#include <set>

#include "crossover/data/data_dir.h"
#include "crossover/data/documents.h"
#include "crossover/data/prepare.h"
#include "crossover/data/token_store.h"
#include "crossover/data/tokenizer.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;

// A corpus of distinct one-line documents.
std::string write_corpus(const TempDir& dir, int n) {
  std::string text;
  const char* words[] = {"alpha", "beta", "gamma", "delta", "river", "stone", "light", "voice"};
  for (int i = 0; i < n; ++i) {
    text += "Document " + std::to_string(i) + ":";
    for (int j = 0; j < 12; ++j) text += std::string(" ") + words[(i * 7 + j * 3) % 8];
    text += ".\n";
  }
  testing::write_file(dir / "corpus.txt", text);
  return dir / "corpus.txt";
}

PrepareOptions small_options(const TempDir& dir, const std::string& input) {
  PrepareOptions o;
  o.inputs = {input};
  o.out_dir = dir / "data";
  o.vocab_size = 300;
  o.val_docs = 10;
  o.seed = 5;
  return o;
}

std::set<std::string> decoded_docs(const Tokenizer& tok, const TokenStore& s) {
  std::set<std::string> out;
  for (uint64_t d = 0; d < s.num_docs(); ++d) out.insert(tok.decode(s.document(d)));
  return out;
}

TEST(Prepare, SplitsTrainAndValidationDisjointlyAndLosesNothing) {
  TempDir dir;
  const auto meta = prepare_corpus(small_options(dir, write_corpus(dir, 120)));
  const auto tok = Tokenizer::load(dir / "data/tokenizer.model");
  const auto train = TokenStore::open(dir / "data/train.bin");
  const auto val = TokenStore::open(dir / "data/val.bin");
  EXPECT_EQ(val.num_docs(), 10u);
  EXPECT_EQ(train.num_docs(), 110u);
  const auto t = decoded_docs(tok, train), v = decoded_docs(tok, val);
  std::set<std::string> both;
  for (const auto& s : v) EXPECT_EQ(t.count(s), 0u) << "validation document in training: " << s;
  both.insert(t.begin(), t.end());
  both.insert(v.begin(), v.end());
  EXPECT_EQ(both.size(), 120u);
  EXPECT_EQ(meta["special_ids"]["mask"], tok.vocab_size());
  EXPECT_EQ(meta["special_ids"]["eos"], 3);
  EXPECT_EQ(meta["train"]["tokens"], train.num_tokens());
  EXPECT_EQ(DataMeta::read(dir / "data").json["val"]["documents"], 10);
}

TEST(Prepare, SameSeedSameSplitOtherSeedOtherSplit) {
  TempDir dir;
  const std::string corpus = write_corpus(dir, 80);
  auto o = small_options(dir, corpus);
  prepare_corpus(o);
  const auto tok = Tokenizer::load(dir / "data/tokenizer.model");
  const auto v1 = decoded_docs(tok, TokenStore::open(dir / "data/val.bin"));
  o.force = true;
  o.tokenizer = dir / "data/tokenizer.model";
  prepare_corpus(o);
  EXPECT_EQ(v1, decoded_docs(tok, TokenStore::open(dir / "data/val.bin")));
  o.seed = 6;
  prepare_corpus(o);
  EXPECT_NE(v1, decoded_docs(tok, TokenStore::open(dir / "data/val.bin")));
}

TEST(Prepare, RefusesToOverwriteWithoutForce) {
  TempDir dir;
  auto o = small_options(dir, write_corpus(dir, 30));
  prepare_corpus(o);
  EXPECT_THROW(prepare_corpus(o), std::runtime_error);
}

TEST(Tokenizer, DecodeOfEncodeIsIdentityOnCorpusSamples) {
  TempDir dir;
  prepare_corpus(small_options(dir, write_corpus(dir, 60)));
  const auto tok = Tokenizer::load(dir / "data/tokenizer.model");
  for (const std::string s : {"Document 3: alpha beta.", "  leading and  double  spaces ",
                              "Unseen wörds, ünïcode ✓ 🙂", "line one\nline two\n",
                              "digits 0123456789 and tabs\there", ""}) {
    const auto ids = tok.encode(s);
    for (int32_t id : ids) EXPECT_LT(id, tok.vocab_size());
    EXPECT_EQ(tok.decode(ids), s);
  }
  EXPECT_EQ(tok.decode({tok.special().mask}), "[MASK]");
}

TEST(Kjv, VerseReferencesAreParsedAndStripped) {
  std::string chapter, text;
  ASSERT_TRUE(parse_kjv_line("Ge1:1 In the beginning God created", &chapter, &text));
  EXPECT_EQ(chapter, "Ge1");
  EXPECT_EQ(text, "In the beginning God created");
  ASSERT_TRUE(parse_kjv_line("1Sam3:10 And the LORD came", &chapter, &text));
  EXPECT_EQ(chapter, "1Sam3");
  EXPECT_FALSE(parse_kjv_line("In the beginning", &chapter, &text));
  EXPECT_FALSE(parse_kjv_line("Ge1: missing verse", &chapter, &text));
}

TEST(Kjv, BundledCorpusHasOneDocumentPerChapter) {
  auto kjv = open_kjv();
  std::string doc, first;
  int64_t n = 0;
  while (kjv->next(&doc)) {
    if (n++ == 0) first = doc;
  }
  EXPECT_EQ(n, 1189);
  EXPECT_EQ(first.rfind("In the beginning God created the heaven and the earth.\n", 0), 0u);
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), 31);  // Genesis 1 has 31 verses
}

TEST(Kjv, DecodeOfEncodeIsIdentityOnKjvChapters) {
  TempDir dir;
  PrepareOptions o;
  o.corpus = "kjv";
  o.out_dir = dir / "kjv";
  o.vocab_size = 2000;
  const auto meta = prepare_corpus(o);
  EXPECT_EQ(meta["train"]["documents"].get<int>() + meta["val"]["documents"].get<int>(), 1189);
  const auto tok = Tokenizer::load(dir / "kjv/tokenizer.model");
  auto kjv = open_kjv();
  std::string doc;
  for (int i = 0; i < 50 && kjv->next(&doc); ++i) EXPECT_EQ(tok.decode(tok.encode(doc)), doc);
}

}  // namespace
}  // namespace crossover
