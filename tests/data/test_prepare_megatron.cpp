// `prepare --from-megatron` on tests/data/megatron/tiny.{bin,idx}: a fixture written by hand
// (tests/python/megatron_make_fixture.py, struct.pack only) from the indexed-dataset layout of
// megatron-core's indexed_dataset.py (header "MMIDIDX\0\0", version 1, dtype code 8 = uint16,
// sequence and document counts, i32 lengths, i64 pointers, i64 document indices; see
// src/data/megatron_reader.h). It reproduces the spec: megatron_parity.py asserts that
// megatron-core's own IndexedDatasetBuilder writes the same bytes for its documents, and then
// converts builder-written uint16 and int32 datasets against a JSON-lines preparation.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>

#include "crossover/data/prepare.h"
#include "crossover/data/token_store.h"
#include "fixtures.h"
#include "hf/hf_test_util.h"
#include "test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// The fixture's documents (megatron_make_fixture.DOCUMENTS, sequences joined); 3 is eos.
const std::vector<std::vector<int32_t>> kDocuments = {
    {5, 17, 42, 3},
    {100, 101, 102, 3},
    {7},
    {200, 201, 202, 203, 3},
    {3},
    {},
    {300, 301, 302, 303, 304, 305, 306, 307, 308, 3}};
constexpr size_t kSequences = 7;

std::string fixture() { return testing::source_path("tests/data/megatron/tiny"); }

std::vector<std::vector<int32_t>> documents(const std::string& store_path) {
  const TokenStore store = TokenStore::open(store_path);
  std::vector<std::vector<int32_t>> out;
  for (uint64_t d = 0; d < store.num_docs(); ++d) out.push_back(store.document(d));
  return out;
}

// A tokenizer whose vocabulary (320) holds the fixture's ids, eos = 3; made once.
const std::string& tokenizer() {
  static TempDir dir;
  static const std::string path = testing::make_data(dir, 200, 320) + "/tokenizer.model";
  return path;
}

PrepareOptions convert(const std::vector<std::string>& prefixes, const std::string& out) {
  PrepareOptions o;
  o.megatron_prefixes = prefixes;
  o.tokenizer = tokenizer();
  o.out_dir = out;
  o.val_docs = 0;
  return o;
}

TEST(Megatron, FixtureConvertsDocumentForDocumentStrippingTheFinalEos) {
  TempDir dir;
  const auto meta = prepare_corpus(convert({fixture()}, dir / "out"));
  std::vector<std::vector<int32_t>> expected = kDocuments;
  for (auto& d : expected)
    if (!d.empty() && d.back() == 3) d.pop_back();
  EXPECT_EQ(documents(dir / "out/train.bin"), expected);
  EXPECT_EQ(meta["corpus"], "megatron");
  EXPECT_EQ(meta["megatron"]["documents_ending_in_eos"], 5);
  EXPECT_EQ(meta["input_bytes"], 182 + 50);
  // keep: the documents as stored.
  PrepareOptions keep = convert({fixture()}, dir / "keep");
  keep.megatron_eod = "keep";
  prepare_corpus(keep);
  EXPECT_EQ(documents(dir / "keep/train.bin"), kDocuments);
  // Two datasets, with a validation split: every document once, in one store or the other.
  PrepareOptions two = convert({fixture(), fixture()}, dir / "two");
  two.megatron_eod = "keep";
  two.val_docs = 4;
  prepare_corpus(two);
  auto all = documents(dir / "two/train.bin");
  const auto val = documents(dir / "two/val.bin");
  EXPECT_EQ(val.size(), 4u);
  all.insert(all.end(), val.begin(), val.end());
  auto want = kDocuments;
  want.insert(want.end(), kDocuments.begin(), kDocuments.end());
  std::sort(all.begin(), all.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(all, want);
}

// Copies the fixture to dir/bad.{bin,idx}, lets `edit` damage it, and returns the error.
std::string error_after(const TempDir& dir,
                        const std::function<void(std::string&, std::string&)>& edit) {
  std::string idx = testing::read_file(fixture() + ".idx");
  std::string bin = testing::read_file(fixture() + ".bin");
  edit(idx, bin);
  testing::write_file(dir / "bad.idx", idx);
  testing::write_file(dir / "bad.bin", bin);
  return testing::error_of([&] { prepare_corpus(convert({dir / "bad"}, dir / "out")); });
}

void put_u64(std::string& s, size_t at, uint64_t v) { std::memcpy(s.data() + at, &v, 8); }

TEST(Megatron, DamagedDatasetsFailNamingTheFileAndByte) {
  TempDir dir;
  const std::string idx = dir / "bad.idx";
  const size_t pointers = 34 + 4 * kSequences, doc_index = pointers + 8 * kSequences;
  EXPECT_EQ(error_after(dir, [](std::string& i, std::string&) { i[0] = 'X'; }),
            idx + ":0: not a Megatron indexed dataset (expected the magic \"MMIDIDX\\0\\0\")");
  EXPECT_EQ(error_after(dir, [](std::string& i, std::string&) { put_u64(i, 9, 2); }),
            idx + ":9: index version 2, expected 1");
  EXPECT_EQ(error_after(dir, [](std::string& i, std::string&) { i[17] = 7; }),
            idx + ":17: token ids stored as float32; expected an integer dtype");
  EXPECT_EQ(error_after(dir, [](std::string& i, std::string&) { i.pop_back(); }),
            idx + ": 181 bytes, expected 182 for 7 sequences and 7 documents (truncated, or not "
                  "written by IndexedDatasetBuilder?)");
  EXPECT_EQ(error_after(dir, [](std::string& i, std::string&) { i.resize(20); }),
            idx + ": 20 bytes, shorter than the 34-byte header of a Megatron index");
  EXPECT_NE(error_after(dir, [&](std::string& i, std::string&) { put_u64(i, pointers + 8, 1000); })
                .find(idx + ":" + std::to_string(pointers + 8) +
                      ": sequence 1 (2 tokens at byte 1000) lies outside"),
            std::string::npos);
  EXPECT_NE(error_after(dir, [&](std::string& i, std::string&) { put_u64(i, doc_index + 16, 0); })
                .find(idx + ":" + std::to_string(doc_index + 16) +
                      ": document index 2 is 0; expected non-decreasing"),
            std::string::npos);
  EXPECT_NE(error_after(dir, [](std::string&, std::string& b) { b += "xx"; })
                .find("the two files do not belong together"),
            std::string::npos);
  EXPECT_EQ(error_after(dir, [](std::string&, std::string& b) { b[2] = b[3] = '\xff'; }),
            dir / "bad" + ".bin:2: token id 65535 of document 0 is outside the tokenizer's "
                          "vocabulary [0, 320) (is --tokenizer the one the corpus was encoded "
                          "with?)");
  EXPECT_NE(testing::error_of([&] {
              prepare_corpus(convert({dir / "missing"}, dir / "out"));
            }).find(dir / "missing" + ".idx: cannot open"),
            std::string::npos);
}

TEST(Megatron, CommandLineNeedsATokenizerAndExcludesInput) {
  TempDir dir;
  auto r = testing::run_crossover("prepare --from-megatron " + fixture() + " --out " + (dir / "o"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--tokenizer"), std::string::npos) << r.output;
  r = testing::run_crossover("prepare --from-megatron " + fixture() +
                             " --input x.jsonl --tokenizer " + tokenizer() + " --out " +
                             (dir / "o"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("excludes"), std::string::npos) << r.output;
  r = testing::run_crossover("prepare --from-megatron " + fixture() + " --tokenizer " +
                             tokenizer() + " --val-docs 1 --out " + (dir / "o"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

// Datasets written by megatron-core itself, against a JSON-lines preparation of the same text.
TEST(Megatron, ConversionOfBuilderWrittenDatasetsEqualsPreparingTheText) {
  CROSSOVER_ONCE_PER_CI();
  ASSERT_VENV();
  TempDir dir;
  const auto r = testing::run_python("megatron_parity.py", std::string(CROSSOVER_BINARY) + " " +
                                                               dir.path().string() + " " +
                                                               fixture());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto result = testing::python_result(r);
  ASSERT_TRUE(result.is_object()) << r.output;
  EXPECT_EQ(result["documents"], 240) << r.output;
}

}  // namespace
}  // namespace crossover
