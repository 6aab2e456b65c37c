// Document sources for `crossover prepare`: text files split into documents, JSON-lines files
// (one document per line), either of them gzip- or zstd-compressed, Parquet files (one document
// per row, from one string column; src/data/parquet_reader.h), and the bundled King James
// Bible. Every source is streamed (one document in memory at a time) and can be rewound, because
// prepare reads the corpus in several passes; every pass yields the same documents.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace crossover {

class DocumentSource {
 public:
  virtual ~DocumentSource() = default;
  // Next document into *doc; false at the end.
  virtual bool next(std::string* doc) = 0;
  // Back to the first document.
  virtual void rewind() = 0;
  // Input bytes consumed so far in this pass (as stored: compressed bytes of a compressed
  // file), and in all (-1 when unknown).
  virtual int64_t bytes_read() const = 0;
  virtual int64_t total_bytes() const = 0;
  // Bytes consumed so far in this pass after decompression.
  virtual int64_t text_bytes_read() const { return bytes_read(); }
  // Where the documents come from, for meta.json.
  virtual std::vector<std::string> sources() const = 0;
  // Malformed lines skipped so far in this pass (FileFormat::skip_bad_lines), and the
  // FILE:LINE: reason of the first few of them.
  virtual int64_t skipped_lines() const { return 0; }
  virtual std::vector<std::string> skipped_examples() const { return {}; }
};

// How files become documents.
struct FileFormat {
  // Text files: "line" (each non-blank line), "blank-line" (paragraphs separated by blank
  // lines) or "file" (one document per file; that file is held in memory).
  std::string split = "line";
  // JSON-lines files (named *.jsonl, *.ndjson or *.json, before any .gz/.zst): one JSON object
  // per line, the document being the string under this key. Parquet files (*.parquet, or the
  // PAR1 magic): one row per document, the string column of this name. Blank lines and empty
  // strings are not documents.
  std::string text_key = "text";
  // A malformed JSON line (not JSON, not an object, no such key, not a string) or Parquet row
  // (null, not UTF-8) stops reading with FILE:LINE (FILE:ROW, 0-based) and what was wrong, unless
  // this is set: then it is counted and skipped.
  bool skip_bad_lines = false;
};

// True for the names read as JSON lines.
bool is_json_lines(const std::string& path);
// True for Parquet files: named *.parquet, *.parq or *.pq, or with the "PAR1" magic at both ends.
bool is_parquet(const std::string& path);

// Files read in order, each decompressed by its name (.gz, .zst; see line_reader.h).
std::unique_ptr<DocumentSource> open_files(const std::vector<std::string>& paths,
                                           const FileFormat& format);

// The King James Bible from Debian's bible-kjv package (`bible -f Ge1:1-Re22:21`): one
// document per chapter (1189), verses one per line with their reference ("Ge1:1 ") removed.
std::unique_ptr<DocumentSource> open_kjv();

// Splits a KJV line "1Sam3:10 And the LORD came..." into chapter key "1Sam3" and the verse
// text; false when the line does not start with a verse reference.
bool parse_kjv_line(const std::string& line, std::string* chapter, std::string* text);

}  // namespace crossover
