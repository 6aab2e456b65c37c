// make-cloze: examples come from validation documents only, have the requested shape, re-encode
// to the tokens they were cut from, and are decided by the seed.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <set>

#include "crossover/data/prepare.h"
#include "crossover/data/token_store.h"
#include "crossover/data/tokenizer.h"
#include "crossover/eval/cloze.h"
#include "crossover/eval/multiple_choice.h"
#include "crossover/eval/tasks.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;

// Documents of random words: any span of several words occurs in one document only, so text
// found in a training document cannot have come from a validation one by chance.
class EvalCloze : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    static const char* words[] = {
        "alpha",  "bravo", "charlie", "delta",  "echo",     "foxtrot", "golf",   "hotel",  "india",
        "juliet", "kilo",  "lima",    "mike",   "november", "oscar",   "papa",   "quebec", "romeo",
        "sierra", "tango", "uniform", "victor", "whiskey",  "xray",    "yankee", "zulu",   "red",
        "green",  "blue",  "black",   "white",  "stone",    "river",   "hill",   "tree",   "house"};
    std::mt19937 rng(7);
    std::string text;
    for (int d = 0; d < 120; ++d) {
      for (int w = 0; w < 50; ++w)
        text += std::string(words[rng() % 36]) + (w % 12 == 11 ? ". " : " ");
      text += "end.\n";
    }
    testing::write_file(*dir_ / "corpus.txt", text);
    PrepareOptions o;
    o.inputs = {*dir_ / "corpus.txt"};
    o.out_dir = *dir_ / "data";
    o.vocab_size = 600;
    o.val_docs = 20;
    prepare_corpus(o);
    data_ = *dir_ / "data";
  }
  static void TearDownTestSuite() { delete dir_; }

  static std::vector<std::string> decoded_docs(const std::string& store, const Tokenizer& tok) {
    const TokenStore s = TokenStore::open(data_ + "/" + store);
    std::vector<std::string> docs;
    for (uint64_t d = 0; d < s.num_docs(); ++d) docs.push_back(tok.decode(s.document(d)));
    return docs;
  }
  static bool found_in(const std::vector<std::string>& docs, const std::string& s) {
    for (const auto& d : docs)
      if (d.find(s) != std::string::npos) return true;
    return false;
  }

  static TempDir* dir_;
  static std::string data_;
};
TempDir* EvalCloze::dir_ = nullptr;
std::string EvalCloze::data_;

TEST_F(EvalCloze, ExamplesComeFromValidationDocumentsOnly) {
  ClozeOptions o;
  o.data_dir = data_;
  o.n = 30;
  o.ctx_tokens = 8;
  o.ending_tokens = 6;
  o.options = 4;
  o.seed = 3;
  const auto examples = make_cloze(o);
  ASSERT_EQ(examples.size(), 30u);
  const Tokenizer tok = Tokenizer::load(data_ + "/tokenizer.model");
  const TokenStore val = TokenStore::open(data_ + "/val.bin");
  const auto val_docs = decoded_docs("val.bin", tok), train_docs = decoded_docs("train.bin", tok);
  std::set<int64_t> labels;
  std::set<std::pair<uint64_t, uint64_t>> contexts;
  for (const auto& e : examples) {
    ASSERT_EQ(e.endings.size(), 4u);
    ASSERT_EQ(e.ending_spans.size(), 4u);
    ASSERT_GE(e.label, 0);
    ASSERT_LT(e.label, 4);
    labels.insert(e.label);
    EXPECT_TRUE(contexts.insert({e.context.doc, e.context.offset}).second)
        << "contexts are distinct";
    // The true ending continues the context in the same validation document.
    const TokenSpan& truth = e.ending_spans[e.label];
    EXPECT_EQ(truth.doc, e.context.doc);
    EXPECT_EQ(truth.offset, e.context.offset + 8);
    EXPECT_EQ(e.context.length, 8u);
    EXPECT_TRUE(found_in(val_docs, e.ctx)) << e.ctx;
    EXPECT_TRUE(found_in(val_docs, e.ctx + " " + e.endings[e.label]))
        << e.ctx << " | " << e.endings[e.label];
    EXPECT_FALSE(found_in(train_docs, e.ctx)) << "training text: " << e.ctx;
    std::set<std::string> distinct(e.endings.begin(), e.endings.end());
    EXPECT_EQ(distinct.size(), 4u);
    McExample mc;
    mc.context = e.ctx;
    for (const auto& s : e.endings) mc.options.push_back(" " + s);
    mc.label = e.label;
    const TokenizedExample t = tokenize_example(tok, mc, 64, "example");
    for (size_t j = 0; j < 4; ++j) {
      const TokenSpan& s = e.ending_spans[j];
      EXPECT_EQ(s.length, 6u);
      if (j != static_cast<size_t>(e.label))
        EXPECT_NE(s.doc, e.context.doc) << "wrong endings come from other documents";
      EXPECT_TRUE(found_in(val_docs, e.endings[j]));
      EXPECT_FALSE(found_in(train_docs, e.endings[j])) << "training text: " << e.endings[j];
      // Each option, as the evaluator encodes it, is exactly the span it was cut from.
      const auto doc = val.document(s.doc);
      const std::vector<int64_t> want(doc.begin() + s.offset, doc.begin() + s.offset + s.length);
      EXPECT_EQ(t.options[j], want) << e.endings[j];
    }
  }
  EXPECT_GE(labels.size(), 3u) << "the label position is shuffled";
}

TEST_F(EvalCloze, TheSeedDecidesEverything) {
  ClozeOptions o;
  o.data_dir = data_;
  o.n = 20;
  o.ctx_tokens = 8;
  o.ending_tokens = 6;
  const std::string a = cloze_jsonl(make_cloze(o));
  EXPECT_EQ(cloze_jsonl(make_cloze(o)), a);
  o.seed = 1;
  EXPECT_NE(cloze_jsonl(make_cloze(o)), a);
  // More examples than fit: every candidate, with a warning rather than a failure.
  o.n = 100000;
  const auto all = make_cloze(o);
  EXPECT_GT(all.size(), 20u);
  EXPECT_LT(all.size(), 100000u);
}

TEST_F(EvalCloze, CommandWritesATaskTheReaderAccepts) {
  TempDir out;
  const std::string file = out / "sub/cloze.jsonl";
  const auto r =
      testing::run_crossover("make-cloze --data " + data_ + " --out " + file +
                             " --n 12 --ctx-tokens 10 --ending-tokens 5 --options 3 --seed 9");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const McTask t = read_task(file);
  EXPECT_EQ(t.name, "cloze");
  ASSERT_EQ(t.examples.size(), 12u);
  for (const auto& e : t.examples) EXPECT_EQ(e.options.size(), 3u);
  const auto again =
      testing::run_crossover("make-cloze --data " + data_ + " --out " + out / "b.jsonl" +
                             " --n 12 --ctx-tokens 10 --ending-tokens 5 --options 3 --seed 9");
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(testing::read_file(out / "b.jsonl"), testing::read_file(file));
  EXPECT_EQ(
      testing::run_crossover("make-cloze --data " + data_ + " --out x.jsonl --options 1").exit_code,
      2);
}

}  // namespace
}  // namespace crossover
