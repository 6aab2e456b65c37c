// Parquet corpora: the committed fixtures (tests/data/parquet, written by pyarrow through
// tests/python/parquet_make_fixtures.py) read as the same documents as their JSON-lines twin, a
// null or non-UTF-8 row is reported as FILE:ROW, and damaged files fail naming the file instead
// of crashing. tests/python/parquet_parity.py then checks many more writer settings end to end
// against pyarrow itself.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "crossover/data/documents.h"
#include "hf/hf_test_util.h"
#include "test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

const char* kFixtures[] = {"docs-v1-dict-snappy.parquet", "docs-v2-delta-zstd.parquet"};

std::string fixture(const std::string& name) {
  return testing::source_path("tests/data/parquet/" + name);
}

std::vector<std::string> read_all(DocumentSource& source) {
  std::vector<std::string> out;
  std::string doc;
  while (source.next(&doc)) out.push_back(doc);
  return out;
}

FileFormat skipping() {
  FileFormat f;
  f.skip_bad_lines = true;
  return f;
}

TEST(Parquet, FixturesReadAsTheirJsonLinesTwin) {
  auto jsonl = open_files({fixture("docs.jsonl")}, skipping());
  const auto expected = read_all(*jsonl);
  ASSERT_EQ(expected.size(), 58u);  // 60 rows less a null and an empty string
  ASSERT_EQ(jsonl->skipped_lines(), 1);
  for (const char* name : kFixtures) {
    EXPECT_TRUE(is_parquet(fixture(name)));
    auto source = open_files({fixture(name)}, skipping());
    EXPECT_EQ(read_all(*source), expected) << name;
    EXPECT_EQ(source->skipped_lines(), 1) << name;
    ASSERT_EQ(source->skipped_examples().size(), 1u);
    EXPECT_EQ(source->skipped_examples()[0],
              fixture(name) + ":7: \"text\" is null, expected a string");
    EXPECT_EQ(source->bytes_read(), static_cast<int64_t>(fs::file_size(fixture(name))));
    source->rewind();  // prepare reads its corpus several times
    EXPECT_EQ(read_all(*source), expected) << name << " after rewind";
  }
  // Both files in one source: their documents in order.
  auto both = open_files({fixture(kFixtures[0]), fixture(kFixtures[1])}, skipping());
  EXPECT_EQ(read_all(*both).size(), 2 * expected.size());
  EXPECT_FALSE(is_parquet(fixture("docs.jsonl")));
}

TEST(Parquet, ANullRowStopsWithFileAndRow) {
  auto source = open_files({fixture(kFixtures[1])}, FileFormat{});
  const std::string e = testing::error_of([&] { read_all(*source); });
  EXPECT_EQ(e, fixture(kFixtures[1]) +
                   ":7: \"text\" is null, expected a string (--skip-bad-lines skips such rows)");
}

TEST(Parquet, AMissingOrNonStringColumnIsNamed) {
  FileFormat f;
  f.text_key = "body";
  EXPECT_EQ(
      testing::error_of([&] { read_all(*open_files({fixture(kFixtures[0])}, f)); }),
      fixture(kFixtures[0]) +
          ": no column \"body\" (the file has: text, id; --text-key names the text's column)");
  f.text_key = "id";
  EXPECT_EQ(testing::error_of([&] { read_all(*open_files({fixture(kFixtures[0])}, f)); }),
            fixture(kFixtures[0]) +
                ": column \"id\" has type INT32; expected BYTE_ARRAY (a string)");
}

// Every way of cutting a file short fails naming it (a cut file loses its footer magic).
TEST(Parquet, TruncatedFilesFailNamingTheFile) {
  TempDir dir;
  const std::string bytes = testing::read_file(fixture(kFixtures[0]));
  const std::string path = dir / "cut.parquet";
  for (size_t keep : {size_t{0}, size_t{4}, size_t{11}, size_t{100}, bytes.size() / 2,
                      bytes.size() - 5, bytes.size() - 1}) {
    testing::write_file(path, bytes.substr(0, keep));
    const std::string e = testing::error_of([&] { read_all(*open_files({path}, FileFormat{})); });
    EXPECT_EQ(e.rfind(path + ": ", 0), 0u) << keep << ": " << e;
    EXPECT_NE(e.find(keep < 12 ? "not a Parquet file" : "or truncated"), std::string::npos) << e;
  }
}

TEST(Parquet, CorruptFootersAndPagesFailNamingTheFile) {
  TempDir dir;
  const std::string good = testing::read_file(fixture(kFixtures[0]));
  const std::string path = dir / "bad.parquet";
  uint32_t footer_len;
  std::memcpy(&footer_len, good.data() + good.size() - 8, 4);
  // A footer length past the file's start.
  std::string bad = good;
  const uint32_t huge = static_cast<uint32_t>(good.size());
  std::memcpy(bad.data() + bad.size() - 8, &huge, 4);
  testing::write_file(path, bad);
  EXPECT_NE(testing::error_of([&] {
              read_all(*open_files({path}, FileFormat{}));
            }).find(path + ": corrupt footer: its length (" + std::to_string(huge) + " bytes"),
            std::string::npos);
  // Garbage over the footer's first bytes.
  bad = good;
  const size_t footer = good.size() - 8 - footer_len;
  for (size_t i = 0; i < 16; ++i) bad[footer + i] = '\xff';
  testing::write_file(path, bad);
  EXPECT_NE(testing::error_of([&] {
              read_all(*open_files({path}, FileFormat{}));
            }).find(path + ": corrupt footer (FileMetaData at byte " + std::to_string(footer)),
            std::string::npos);
  // Garbage over the first page header (the text column comes first: byte 4).
  bad = good;
  for (size_t i = 4; i < 12; ++i) bad[i] = '\xff';
  testing::write_file(path, bad);
  EXPECT_NE(testing::error_of([&] {
              read_all(*open_files({path}, FileFormat{}));
            }).find(path + ": row group 0, column \"text\", page at byte 4: "),
            std::string::npos);
  // Any one footer byte changed: an error naming the file or other documents, never a crash.
  int errors = 0;
  for (size_t i = footer; i < good.size() - 8; ++i) {
    bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    testing::write_file(path, bad);
    try {
      read_all(*open_files({path}, skipping()));
    } catch (const std::exception& e) {
      ++errors;
      EXPECT_EQ(std::string(e.what()).rfind(path + ":", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(errors, 0);
}

// The end-to-end parity with pyarrow's writer over every codec and encoding option.
TEST(Parquet, PrepareGivesTheTokensOfJsonLinesForEveryWriterSetting) {
  CROSSOVER_ONCE_PER_CI();
  ASSERT_VENV();
  TempDir dir;
  const auto r = testing::run_python("parquet_parity.py",
                                     std::string(CROSSOVER_BINARY) + " " + dir.path().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto result = testing::python_result(r);
  ASSERT_TRUE(result.is_object()) << r.output;
  EXPECT_EQ(result["variants"].size(), 16u) << r.output;
  EXPECT_EQ(result["errors"].size(), 7u) << r.output;
}

}  // namespace
}  // namespace crossover
