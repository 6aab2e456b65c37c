// JSON-lines and compressed corpora, malformed lines, and sharded preparation: the documents of
// .jsonl/.gz/.zst files equal those of plain text, a bad line is reported by FILE:LINE (or
// skipped and counted), and shards + merge give the bytes of a one-process prepare.
#include <gtest/gtest.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "crossover/data/data_dir.h"
#include "crossover/data/documents.h"
#include "crossover/data/line_reader.h"
#include "crossover/data/prepare.h"
#include "crossover/data/token_store.h"
#include "test_util.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

void write_gzip(const std::string& path, const std::string& data) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, data.data(), static_cast<unsigned>(data.size())),
            static_cast<int>(data.size()));
  gzclose(gz);
}

void write_zstd(const std::string& path, const std::string& data) {
  std::string out(ZSTD_compressBound(data.size()), '\0');
  const size_t n = ZSTD_compress(out.data(), out.size(), data.data(), data.size(), 3);
  ASSERT_FALSE(ZSTD_isError(n));
  out.resize(n);
  testing::write_file(path, out);
}

// Distinct documents with what JSON must escape: quotes, backslashes, tabs, non-ASCII.
std::vector<std::string> make_docs(int n, int seed) {
  const char* words[] = {"alpha", "beta", "\"quoted\"", "back\\slash", "tab\there",
                         "wörd",  "✓",    "river",      "stone",       "light"};
  std::mt19937 rng(seed);
  std::vector<std::string> docs;
  for (int i = 0; i < n; ++i) {
    std::string d = "doc " + std::to_string(seed) + "-" + std::to_string(i) + ":";
    const int len = 3 + static_cast<int>(rng() % 30);
    for (int j = 0; j < len; ++j) d += std::string(" ") + words[rng() % 10];
    docs.push_back(d);
  }
  return docs;
}

std::string as_text(const std::vector<std::string>& docs) {
  std::string s;
  for (const auto& d : docs) s += d + "\n";
  return s;
}

// One object per line, the text under "text" among other keys.
std::string as_jsonl(const std::vector<std::string>& docs, const std::string& key = "text") {
  std::string s;
  for (size_t i = 0; i < docs.size(); ++i)
    s += nlohmann::json{{"id", i}, {key, docs[i]}, {"meta", {{"source", "test"}}}}.dump() + "\n";
  return s;
}

std::vector<std::string> read_all(DocumentSource& source) {
  std::vector<std::string> out;
  std::string doc;
  while (source.next(&doc)) out.push_back(doc);
  return out;
}

TEST(LineReader, CompressedFilesReadAsThePlainOne) {
  TempDir dir;
  // A line longer than the 1 MiB buffer, CRLF endings, an empty line, no final newline.
  const std::string long_line(3 << 20, 'x');
  const std::string text = "first\r\n" + long_line + "\n\nlast";
  testing::write_file(dir / "a.txt", text);
  write_gzip(dir / "a.txt.gz", text);
  write_zstd(dir / "a.txt.zst", text);
  for (const char* name : {"a.txt", "a.txt.gz", "a.txt.zst"}) {
    LineReader r(dir / name);
    std::vector<std::string> lines;
    for (std::string line; r.next(&line);) lines.push_back(line);
    EXPECT_EQ(lines, (std::vector<std::string>{"first", long_line, "", "last"})) << name;
    EXPECT_EQ(r.line_number(), 4) << name;
    EXPECT_EQ(r.text_bytes(), static_cast<int64_t>(text.size())) << name;
    EXPECT_EQ(r.file_bytes(), static_cast<int64_t>(fs::file_size(dir / name))) << name;
  }
  EXPECT_EQ(without_compression_suffix("x/a.jsonl.zst"), "x/a.jsonl");
  EXPECT_TRUE(is_json_lines("c4.json.gz"));
  EXPECT_FALSE(is_json_lines("a.txt.zst"));
}

TEST(LineReader, CorruptOrMislabelledCompressedFilesFailNamingTheFile) {
  TempDir dir;
  const std::string text = as_text(make_docs(2000, 1));
  write_gzip(dir / "ok.gz", text);
  write_zstd(dir / "ok.zst", text);
  const std::string gz = testing::read_file(dir / "ok.gz"),
                    zst = testing::read_file(dir / "ok.zst");
  testing::write_file(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  testing::write_file(dir / "cut.zst", zst.substr(0, zst.size() / 2));
  testing::write_file(dir / "plain.gz", text);
  testing::write_file(dir / "plain.zst", text);
  auto error_of = [&](const std::string& name) -> std::string {
    try {
      LineReader r(dir / name);
      for (std::string line; r.next(&line);) {
      }
    } catch (const std::exception& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of("cut.gz").rfind(dir / "cut.gz: truncated gzip data", 0), 0u)
      << error_of("cut.gz");
  EXPECT_EQ(error_of("cut.zst").rfind(dir / "cut.zst: truncated zstd data", 0), 0u)
      << error_of("cut.zst");
  EXPECT_EQ(error_of("plain.gz").rfind(dir / "plain.gz: not gzip data", 0), 0u)
      << error_of("plain.gz");
  EXPECT_EQ(error_of("plain.zst").rfind(dir / "plain.zst: corrupt zstd data", 0), 0u)
      << error_of("plain.zst");
}

TEST(JsonLines, PlainGzipAndZstdFilesGiveTheDocumentsOfTheTextFile) {
  TempDir dir;
  const auto docs = make_docs(300, 2);
  testing::write_file(dir / "c.txt", as_text(docs));
  testing::write_file(dir / "c.jsonl", as_jsonl(docs));
  write_gzip(dir / "c.jsonl.gz", as_jsonl(docs));
  write_zstd(dir / "c.jsonl.zst", as_jsonl(docs, "content"));
  FileFormat text_key;
  EXPECT_EQ(read_all(*open_files({dir / "c.txt"}, text_key)), docs);
  EXPECT_EQ(read_all(*open_files({dir / "c.jsonl"}, text_key)), docs);
  EXPECT_EQ(read_all(*open_files({dir / "c.jsonl.gz"}, text_key)), docs);
  FileFormat content_key;
  content_key.text_key = "content";
  EXPECT_EQ(read_all(*open_files({dir / "c.jsonl.zst"}, content_key)), docs);

  // JSON strings may hold what a text line cannot: newlines. Blank lines and empty texts are
  // not documents.
  testing::write_file(dir / "n.jsonl", "{\"text\": \"two\\nlines\"}\n\n{\"text\": \"\"}\n  \n"
                                       "{\"text\": \"\\u00e9\\t\\\"q\\\"\"}");
  EXPECT_EQ(read_all(*open_files({dir / "n.jsonl"}, text_key)),
            (std::vector<std::string>{"two\nlines", "é\t\"q\""}));

  // A whole prepare from the text file and from the compressed JSON lines: the same stores.
  PrepareOptions o;
  o.inputs = {dir / "c.txt"};
  o.out_dir = dir / "from-text";
  o.vocab_size = 300;
  o.val_docs = 20;
  prepare_corpus(o);
  o.tokenizer = dir / "from-text/tokenizer.model";
  for (const char* name : {"c.jsonl", "c.jsonl.gz"}) {
    o.inputs = {dir / name};
    o.out_dir = dir / (std::string("from-") + name);
    const auto meta = prepare_corpus(o);
    for (const char* store : {"train.bin", "val.bin"})
      EXPECT_EQ(testing::read_file(o.out_dir + "/" + store),
                testing::read_file(dir / ("from-text/" + std::string(store))))
          << name << " " << store;
    EXPECT_EQ(meta["input_bytes"], fs::file_size(dir / name));
    EXPECT_EQ(meta["skipped_lines"], 0);
  }
}

TEST(JsonLines, AMalformedLineStopsWithFileLineAndWhatWasWrong) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"text\": \"ok\"", "not valid JSON: column "},
      {"[\"text\"]", "expected a JSON object, got array"},
      {"{\"body\": \"x\", \"id\": 3}",
       "no \"text\" key (the object has: body, id; --text-key names the text's key)"},
      {"{\"text\": 17}", "\"text\" is number, expected a string"},
      {"{\"text\": null}", "\"text\" is null, expected a string"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string path = dir / ("bad" + std::to_string(i) + ".jsonl.gz");
    write_gzip(path, "{\"text\": \"one\"}\n\n" + cases[i].first + "\n{\"text\": \"four\"}\n");
    PrepareOptions o;
    o.inputs = {path};
    o.out_dir = dir / ("out" + std::to_string(i));
    try {
      prepare_corpus(o);
      ADD_FAILURE() << "no error for " << cases[i].first;
    } catch (const std::runtime_error& e) {
      const std::string want = path + ":3: " + cases[i].second;
      EXPECT_EQ(std::string(e.what()).rfind(want, 0), 0u) << e.what() << "\nexpected: " << want;
    }
    EXPECT_FALSE(fs::exists(o.out_dir + "/meta.json"));
  }
  // Through the command line: one error line, exit status 1.
  const auto r = testing::run_crossover("prepare --input " + (dir / "bad3.jsonl.gz") + " --out " +
                                        (dir / "cli"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(dir / "bad3.jsonl.gz:3: \"text\" is number, expected a string"),
            std::string::npos)
      << r.output;
}

TEST(JsonLines, SkipBadLinesCountsReportsAndKeepsTheRest) {
  TempDir dir;
  const auto docs = make_docs(120, 3);
  std::string text;
  for (size_t i = 0; i < docs.size(); ++i) {
    if (i == 10) text += "not json\n";
    if (i == 50) text += "{\"text\": 5}\n";
    if (i == 90) text += "{\"title\": \"no text\"}\n";
    text += nlohmann::json{{"text", docs[i]}}.dump() + "\n";
  }
  write_zstd(dir / "s.jsonl.zst", text);
  const auto r = testing::run_crossover("prepare --input " + (dir / "s.jsonl.zst") + " --out " +
                                        (dir / "out") +
                                        " --vocab-size 300 --val-docs 10 --skip-bad-lines");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("skipped 3 malformed line(s) (--skip-bad-lines)"), std::string::npos)
      << r.output;
  for (const std::string where :
       {":11: not valid JSON", ":52: \"text\" is number", ":93: no \"text\" key"})
    EXPECT_NE(r.output.find(dir / "s.jsonl.zst" + where), std::string::npos) << where << "\n"
                                                                             << r.output;
  const auto meta = DataMeta::read(dir / "out").json;
  EXPECT_EQ(meta["skipped_lines"], 3);
  EXPECT_EQ(meta["train"]["documents"].get<int>() + meta["val"]["documents"].get<int>(), 120);
  EXPECT_EQ(meta["text_key"], "text");
  EXPECT_NE(r.output.find("tokens/s"), std::string::npos) << r.output;  // throughput is printed
}

TEST(PrepareShards, FilesAreCutIntoContiguousRunsBalancedByBytes) {
  // Every file in exactly one shard, in order; about equal bytes when the files allow it.
  std::mt19937 rng(4);
  for (int trial = 0; trial < 200; ++trial) {
    const int n_files = 1 + static_cast<int>(rng() % 12), n = 1 + static_cast<int>(rng() % 6);
    std::vector<int64_t> sizes;
    for (int j = 0; j < n_files; ++j) sizes.push_back(trial % 7 == 0 ? 0 : rng() % 1000);
    size_t next = 0;
    for (int i = 0; i < n; ++i) {
      const auto [first, last] = shard_file_range(sizes, i, n);
      ASSERT_LE(first, last);
      if (first < last) {
        ASSERT_EQ(first, next) << "trial " << trial << " shard " << i;
        next = last;
      }
    }
    ASSERT_EQ(next, sizes.size()) << "trial " << trial;
  }
  const std::vector<int64_t> even(9, 100);
  EXPECT_EQ(shard_file_range(even, 0, 3), (std::pair<size_t, size_t>{0, 3}));
  EXPECT_EQ(shard_file_range(even, 1, 3), (std::pair<size_t, size_t>{3, 6}));
  EXPECT_EQ(shard_file_range(even, 2, 3), (std::pair<size_t, size_t>{6, 9}));
  const std::vector<int64_t> one_big = {1000, 10, 10, 10};
  EXPECT_EQ(shard_file_range(one_big, 0, 2), (std::pair<size_t, size_t>{0, 1}));
  EXPECT_EQ(shard_file_range(one_big, 1, 2), (std::pair<size_t, size_t>{1, 4}));
}

TEST(PrepareShards, ThreeShardsMergedAreByteIdenticalToOneProcess) {
  TempDir dir;
  // Four files of every kind and of different sizes.
  std::vector<std::string> inputs = {dir / "a.txt", dir / "b.jsonl.gz", dir / "c.jsonl.zst",
                                     dir / "d.jsonl"};
  testing::write_file(inputs[0], as_text(make_docs(150, 10)));
  write_gzip(inputs[1], as_jsonl(make_docs(40, 11)));
  write_zstd(inputs[2], as_jsonl(make_docs(200, 12)));
  testing::write_file(inputs[3], as_jsonl(make_docs(90, 13)));
  std::string files;
  for (const auto& p : inputs) files += " " + p;
  auto crossover = [&](const std::string& args) {
    const auto r = testing::run_crossover(args);
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    return r;
  };
  // The tokenizer, once; the whole corpus in one process with it.
  crossover("prepare --input" + files + " --out " + (dir / "tok") +
            " --vocab-size 320 --tokenizer-only");
  ASSERT_TRUE(fs::exists(dir / "tok/tokenizer.model"));
  EXPECT_FALSE(fs::exists(dir / "tok/train.bin"));
  const std::string tok = dir / "tok/tokenizer.model";
  crossover("prepare --input" + files + " --out " + (dir / "whole") + " --tokenizer " + tok +
            " --val-docs 37 --seed 9");
  // Three shards (as three SLURM array tasks would), merged from a shuffled list.
  for (int i = 0; i < 3; ++i)
    crossover("prepare --input" + files + " --out " + (dir / ("shard" + std::to_string(i))) +
              " --tokenizer " + tok + " --shard " + std::to_string(i) + "/3 --threads 2");
  std::vector<int64_t> shard_docs;
  for (int i = 0; i < 3; ++i) {
    const auto s = nlohmann::json::parse(
        testing::read_file(dir / ("shard" + std::to_string(i) + "/shard.json")));
    shard_docs.push_back(s["documents"].get<int64_t>());
  }
  EXPECT_EQ(shard_docs[0] + shard_docs[1] + shard_docs[2], 480);
  EXPECT_EQ(std::count(shard_docs.begin(), shard_docs.end(), 0), 0) << "every shard has work";
  crossover("prepare merge " + (dir / "shard2") + " " + (dir / "shard0") + " " + (dir / "shard1") +
            " --out " + (dir / "merged") + " --val-docs 37 --seed 9");
  for (const char* name : {"train.bin", "val.bin", "meta.json", "tokenizer.model"}) {
    const std::string a = testing::read_file(dir / ("whole/" + std::string(name)));
    const std::string b = testing::read_file(dir / ("merged/" + std::string(name)));
    EXPECT_FALSE(a.empty()) << name;
    EXPECT_TRUE(a == b) << name << " differs: " << a.size() << " vs " << b.size() << " bytes";
  }
  const auto meta = DataMeta::read(dir / "merged").json;
  EXPECT_EQ(meta["val"]["documents"], 37);
  EXPECT_EQ(meta["train"]["documents"], 480 - 37);

  // A missing shard, or a shard of another input list, is refused by name.
  auto r = testing::run_crossover("prepare merge " + (dir / "shard0") + " " + (dir / "shard1") +
                                  " --out " + (dir / "m2"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("is a shard of 3, but 2 shard directories were given"), std::string::npos)
      << r.output;
  crossover("prepare --input " + inputs[0] + " " + inputs[1] + " --out " + (dir / "other1") +
            " --tokenizer " + tok + " --shard 1/3");
  r = testing::run_crossover("prepare merge " + (dir / "shard0") + " " + (dir / "other1") + " " +
                             (dir / "shard2") + " --out " + (dir / "m3"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("are shards of different preparations: their \"inputs\" differ"),
            std::string::npos)
      << r.output;
  // A shard needs the shared tokenizer.
  r = testing::run_crossover("prepare --input" + files + " --out " + (dir / "s") + " --shard 0/3");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--tokenizer"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace crossover
