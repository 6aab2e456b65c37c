#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "crossover/data/token_store.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;

std::string open_error(const std::string& path) {
  try {
    TokenStore::open(path).verify_ids();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "<no error>";
}

void write_store(const std::string& path, uint64_t vocab,
                 const std::vector<std::vector<int32_t>>& docs) {
  TokenStoreWriter w(path, vocab);
  for (const auto& d : docs) w.add_document(d);
  w.finish();
}

TEST(TokenStore, RoundTripsDocumentsAndHeader) {
  TempDir dir;
  const std::vector<std::vector<int32_t>> docs = {{5, 6, 7}, {}, {1}, {9, 9, 9, 9, 0}};
  write_store(dir / "s.bin", 10, docs);
  const auto s = TokenStore::open(dir / "s.bin");
  EXPECT_EQ(s.num_docs(), 4u);
  EXPECT_EQ(s.num_tokens(), 9u);
  EXPECT_EQ(s.vocab_size(), 10u);
  EXPECT_EQ(s.token_bytes(), 2);
  for (size_t d = 0; d < docs.size(); ++d) EXPECT_EQ(s.document(d), docs[d]);
  // Exact size: header + 9 tokens * 2 bytes, padded to 8, + 5 offsets * 8.
  EXPECT_EQ(std::filesystem::file_size(dir / "s.bin"), 64u + 24u + 40u);
  EXPECT_FALSE(std::filesystem::exists(dir / "s.bin.tmp"));
}

TEST(TokenStore, WideVocabularyUsesFourByteTokens) {
  TempDir dir;
  write_store(dir / "w.bin", 100000, {{99999, 65536, 3}});
  const auto s = TokenStore::open(dir / "w.bin");
  EXPECT_EQ(s.token_bytes(), 4);
  EXPECT_EQ(s.document(0), (std::vector<int32_t>{99999, 65536, 3}));
}

TEST(TokenStore, WriterRejectsIdsOutsideTheVocabulary) {
  TempDir dir;
  TokenStoreWriter w(dir / "x.bin", 10);
  EXPECT_THROW(w.add_document({3, 10}), std::runtime_error);
}

TEST(TokenStore, TruncatedFileIsRejectedWithSizes) {
  TempDir dir;
  write_store(dir / "t.bin", 10, {{1, 2, 3}, {4}});
  std::filesystem::resize_file(dir / "t.bin", std::filesystem::file_size(dir / "t.bin") - 8);
  EXPECT_EQ(open_error(dir / "t.bin"),
            (dir / "t.bin") +
                ": truncated: file is 88 bytes, expected 96 (4 tokens of 2 bytes and 3 document "
                "offsets after the 64-byte header)");
  std::filesystem::resize_file(dir / "t.bin", 10);
  EXPECT_EQ(open_error(dir / "t.bin"),
            (dir / "t.bin") + ": truncated: file is 10 bytes, shorter than the 64-byte header");
}

TEST(TokenStore, WrongMagicIsRejected) {
  TempDir dir;
  write_store(dir / "m.bin", 10, {{1, 2}});
  {
    std::fstream f(dir / "m.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.write("NOTASTOR", 8);
  }
  EXPECT_EQ(open_error(dir / "m.bin"),
            (dir / "m.bin") +
                ": offset 0: wrong magic \"NOTASTOR\", expected \"XOVRTOKS\" (not a crossover "
                "token store)");
}

TEST(TokenStore, OutOfRangeIdIsRejectedWithItsOffset) {
  TempDir dir;
  write_store(dir / "o.bin", 10, {{1, 2, 3}});
  {
    std::fstream f(dir / "o.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64 + 2 * 2);
    const uint16_t bad = 42;
    f.write(reinterpret_cast<const char*>(&bad), 2);
  }
  EXPECT_EQ(open_error(dir / "o.bin"),
            (dir / "o.bin") +
                ": offset 68: token 2 is 42, expected an id below the vocabulary size 10");
}

TEST(TokenStore, CorruptOffsetsAreRejected) {
  TempDir dir;
  write_store(dir / "c.bin", 10, {{1, 2, 3}, {4, 5}});
  {
    std::fstream f(dir / "c.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(64 + 16 + 8);  // offsets start at 80; overwrite offsets[1]
    const uint64_t bad = 99;
    f.write(reinterpret_cast<const char*>(&bad), 8);
  }
  EXPECT_EQ(open_error(dir / "c.bin"),
            (dir / "c.bin") + ": offset 88: document offset 1 is 99, expected a value in [0, 5]");
}

TEST(TokenStore, MissingFileNamesThePath) {
  EXPECT_EQ(open_error("/nonexistent/train.bin"),
            "/nonexistent/train.bin: cannot open token store: No such file or directory");
}

}  // namespace
}  // namespace crossover
