#include "crossover/data/documents.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <filesystem>
#include <stdexcept>

#include "crossover/data/line_reader.h"
#include "parquet_reader.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

// The text under `key` of one JSON line; false, with *error saying why, when the line is
// malformed.
bool parse_json_line(const std::string& line, const std::string& key, std::string* text,
                     std::string* error) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(line);
  } catch (const nlohmann::json::parse_error& e) {
    // "[json.exception.parse_error.101] parse error at line 1, column 7: syntax error ..."
    std::string what = e.what();
    const auto at = what.find("column ");
    *error = "not valid JSON: " + (at == std::string::npos ? what : what.substr(at));
    return false;
  }
  if (!j.is_object()) {
    *error = std::string("expected a JSON object, got ") + j.type_name();
    return false;
  }
  const auto it = j.find(key);
  if (it == j.end()) {
    std::string keys;
    for (const auto& [k, v] : j.items()) keys += (keys.empty() ? "" : ", ") + k;
    *error = "no \"" + key + "\" key (the object has: " + (keys.empty() ? "nothing" : keys) +
             "; --text-key names the text's key)";
    return false;
  }
  if (!it->is_string()) {
    *error = "\"" + key + "\" is " + std::string(it->type_name()) + ", expected a string";
    return false;
  }
  *text = it->get_ref<const std::string&>();
  return true;
}

class Files final : public DocumentSource {
 public:
  Files(std::vector<std::string> paths, FileFormat format)
      : paths_(std::move(paths)), format_(std::move(format)) {
    if (format_.split != "line" && format_.split != "blank-line" && format_.split != "file")
      throw std::invalid_argument("--doc-split: expected line, blank-line or file, got " +
                                  format_.split);
    if (format_.text_key.empty()) throw std::invalid_argument("--text-key: must not be empty");
    if (paths_.empty()) throw std::invalid_argument("prepare: no input files");
    for (const auto& p : paths_) {
      std::error_code ec;
      const auto size = fs::file_size(p, ec);
      if (ec) throw std::runtime_error(p + ": cannot read input file: " + ec.message());
      total_ += static_cast<int64_t>(size);
      parquet_.push_back(is_parquet(p));
    }
    rewind();
  }

  bool next(std::string* doc) override {
    doc->clear();
    while (file_index_ < paths_.size()) {
      if (parquet_[file_index_]) {
        if (next_parquet(doc)) return true;
        close_current();
        continue;
      }
      if (!reader_) reader_ = std::make_unique<LineReader>(paths_[file_index_]);
      if (is_json_lines(paths_[file_index_])) {
        if (next_json(doc)) return true;
      } else if (format_.split == "file") {
        *doc = reader_->rest();
        close_current();
        if (!doc->empty()) return true;
        continue;
      } else if (next_text(doc)) {
        return true;
      }
      close_current();
      if (!doc->empty()) return true;  // a paragraph ending the file
    }
    return false;
  }

  void rewind() override {
    reader_.reset();
    table_.reset();
    file_index_ = 0;
    done_bytes_ = done_text_bytes_ = 0;
    skipped_ = 0;
    skipped_examples_.clear();
  }
  int64_t bytes_read() const override {
    return done_bytes_ + (reader_ ? reader_->file_bytes() : 0) +
           (table_ ? table_->file_bytes() : 0);
  }
  int64_t text_bytes_read() const override {
    return done_text_bytes_ + (reader_ ? reader_->text_bytes() : 0) +
           (table_ ? table_->text_bytes() : 0);
  }
  int64_t total_bytes() const override { return total_; }
  std::vector<std::string> sources() const override { return paths_; }
  int64_t skipped_lines() const override { return skipped_; }
  std::vector<std::string> skipped_examples() const override { return skipped_examples_; }

 private:
  bool next_json(std::string* doc) {
    std::string error;
    while (reader_->next(&line_)) {
      if (line_.find_first_not_of(" \t") == std::string::npos) continue;
      if (parse_json_line(line_, format_.text_key, doc, &error)) {
        if (!doc->empty()) return true;
        continue;
      }
      skip_or_throw(reader_->path() + ":" + std::to_string(reader_->line_number()), error,
                    " (--skip-bad-lines skips such lines)");
    }
    return false;
  }
  // Parquet: the next row whose text column holds a non-empty string. A null or a value that is
  // not UTF-8 is a malformed row, reported as FILE:ROW (0-based, as pyarrow numbers rows); an
  // empty string is no document, as in JSON lines.
  bool next_parquet(std::string* doc) {
    if (!table_)
      table_ = std::make_unique<ParquetTextReader>(paths_[file_index_], format_.text_key);
    ParquetTextReader::Value kind;
    while (table_->next(doc, &kind)) {
      if (kind == ParquetTextReader::Value::text) {
        if (!doc->empty()) return true;
        continue;
      }
      const std::string error = kind == ParquetTextReader::Value::null
                                    ? "\"" + format_.text_key + "\" is null, expected a string"
                                    : "\"" + format_.text_key + "\" is not valid UTF-8 (at byte " +
                                          std::to_string(table_->invalid_utf8_at()) +
                                          " of the value)";
      doc->clear();
      skip_or_throw(table_->path() + ":" + std::to_string(table_->row()), error,
                    " (--skip-bad-lines skips such rows)");
    }
    return false;
  }
  void skip_or_throw(const std::string& where, const std::string& error, const char* hint) {
    if (!format_.skip_bad_lines) throw std::runtime_error(where + ": " + error + hint);
    ++skipped_;
    if (skipped_examples_.size() < 5) skipped_examples_.push_back(where + ": " + error);
  }
  // Text: a line, or a paragraph accumulated into *doc until a blank line.
  bool next_text(std::string* doc) {
    while (reader_->next(&line_)) {
      const bool blank = line_.find_first_not_of(" \t") == std::string::npos;
      if (format_.split == "line") {
        if (!blank) return *doc = line_, true;
      } else if (blank) {
        if (!doc->empty()) return true;
      } else {
        if (!doc->empty()) *doc += '\n';
        *doc += line_;
      }
    }
    return false;
  }
  void close_current() {
    if (reader_) {
      done_bytes_ += reader_->file_bytes();
      done_text_bytes_ += reader_->text_bytes();
    }
    if (table_) {
      done_bytes_ += table_->file_bytes();
      done_text_bytes_ += table_->text_bytes();
    }
    reader_.reset();
    table_.reset();
    ++file_index_;
  }
  std::vector<std::string> paths_;
  FileFormat format_;
  std::vector<bool> parquet_;  // per file: read as a Parquet table
  std::unique_ptr<LineReader> reader_;
  std::unique_ptr<ParquetTextReader> table_;
  std::string line_;
  size_t file_index_ = 0;
  int64_t done_bytes_ = 0, done_text_bytes_ = 0, total_ = 0;
  int64_t skipped_ = 0;
  std::vector<std::string> skipped_examples_;
};

class Kjv final : public DocumentSource {
 public:
  Kjv() { rewind(); }
  ~Kjv() override { close(); }

  bool next(std::string* doc) override {
    doc->clear();
    std::string chapter, text;
    if (!pending_chapter_.empty()) {
      *doc = pending_text_;
      chapter = pending_chapter_;
      pending_chapter_.clear();
    } else if (done_) {
      return false;
    }
    char* line = nullptr;
    size_t cap = 0;
    ssize_t n;
    while ((n = ::getline(&line, &cap, pipe_)) > 0) {
      bytes_ += n;
      std::string s(line, static_cast<size_t>(n));
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
      if (s.empty()) continue;
      std::string ch;
      if (!parse_kjv_line(s, &ch, &text)) {
        std::free(line);
        throw std::runtime_error("bible -f: unexpected line (no verse reference): " + s);
      }
      if (chapter.empty()) chapter = ch;
      if (ch != chapter) {  // first verse of the next chapter
        pending_chapter_ = ch;
        pending_text_ = text + "\n";
        std::free(line);
        return true;
      }
      *doc += text + "\n";
    }
    std::free(line);
    done_ = true;
    check_exit();
    return !doc->empty();
  }

  void rewind() override {
    close();
    pipe_ = ::popen("bible -f Ge1:1-Re22:21 2>&1", "r");
    if (!pipe_) throw std::runtime_error("cannot run `bible` (install the bible-kjv package)");
    bytes_ = 0;
    done_ = false;
    pending_chapter_.clear();
  }
  int64_t bytes_read() const override { return bytes_; }
  int64_t total_bytes() const override { return 4'404'412; }  // `bible -f` output size
  std::vector<std::string> sources() const override {
    return {"bible-kjv: bible -f Ge1:1-Re22:21"};
  }

 private:
  void close() {
    if (pipe_) ::pclose(pipe_);
    pipe_ = nullptr;
  }
  void check_exit() {
    const int status = ::pclose(pipe_);
    pipe_ = nullptr;
    if (status != 0 || bytes_ == 0)
      throw std::runtime_error(
          "`bible -f Ge1:1-Re22:21` failed (exit status " + std::to_string(status) +
          "); install Debian's bible-kjv package (scripts/setup/debian-packages.sh does)");
  }
  std::FILE* pipe_ = nullptr;
  int64_t bytes_ = 0;
  bool done_ = false;
  std::string pending_chapter_, pending_text_;
};

}  // namespace

bool parse_kjv_line(const std::string& line, std::string* chapter, std::string* text) {
  // Reference: optional digit, letters, chapter digits, ':', verse digits, one space.
  size_t i = 0;
  if (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  const size_t letters = i;
  while (i < line.size() && std::isalpha(static_cast<unsigned char>(line[i]))) ++i;
  if (i == letters) return false;
  const size_t digits = i;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i == digits || i >= line.size() || line[i] != ':') return false;
  const size_t colon = i++;
  const size_t verse = i;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i == verse || i >= line.size() || line[i] != ' ') return false;
  *chapter = line.substr(0, colon);
  *text = line.substr(i + 1);
  return true;
}

bool is_json_lines(const std::string& path) {
  const std::string name = without_compression_suffix(path);
  for (const std::string ext : {".jsonl", ".ndjson", ".json"})
    if (name.size() >= ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0)
      return true;
  return false;
}

std::unique_ptr<DocumentSource> open_files(const std::vector<std::string>& paths,
                                           const FileFormat& format) {
  return std::make_unique<Files>(paths, format);
}

std::unique_ptr<DocumentSource> open_kjv() { return std::make_unique<Kjv>(); }

}  // namespace crossover
