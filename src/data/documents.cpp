#include "crossover/data/documents.h"

#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace crossover {

namespace fs = std::filesystem;

namespace {

class TextFiles final : public DocumentSource {
 public:
  TextFiles(std::vector<std::string> paths, std::string split)
      : paths_(std::move(paths)), split_(std::move(split)) {
    if (split_ != "line" && split_ != "blank-line" && split_ != "file")
      throw std::invalid_argument("--doc-split: expected line, blank-line or file, got " + split_);
    if (paths_.empty()) throw std::invalid_argument("prepare: no input files");
    for (const auto& p : paths_) {
      std::error_code ec;
      const auto size = fs::file_size(p, ec);
      if (ec) throw std::runtime_error(p + ": cannot read input file: " + ec.message());
      total_ += static_cast<int64_t>(size);
    }
    rewind();
  }

  bool next(std::string* doc) override {
    doc->clear();
    while (file_index_ < paths_.size()) {
      if (!in_.is_open()) {
        in_.open(paths_[file_index_], std::ios::binary);
        if (!in_) throw std::runtime_error(paths_[file_index_] + ": cannot open input file");
      }
      if (split_ == "file") {
        std::string content((std::istreambuf_iterator<char>(in_)), {});
        bytes_ += static_cast<int64_t>(content.size());
        close_current();
        if (!content.empty()) return *doc = std::move(content), true;
        continue;
      }
      std::string line;
      while (std::getline(in_, line)) {
        bytes_ += static_cast<int64_t>(line.size()) + 1;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const bool blank = line.find_first_not_of(" \t") == std::string::npos;
        if (split_ == "line") {
          if (!blank) return *doc = line, true;
        } else if (blank) {
          if (!doc->empty()) return true;
        } else {
          if (!doc->empty()) *doc += '\n';
          *doc += line;
        }
      }
      close_current();
      if (!doc->empty()) return true;  // a paragraph ending the file
    }
    return false;
  }

  void rewind() override {
    if (in_.is_open()) in_.close();
    in_.clear();
    file_index_ = 0;
    bytes_ = 0;
  }
  int64_t bytes_read() const override { return bytes_; }
  int64_t total_bytes() const override { return total_; }
  std::vector<std::string> sources() const override { return paths_; }

 private:
  void close_current() {
    in_.close();
    in_.clear();
    ++file_index_;
  }
  std::vector<std::string> paths_;
  std::string split_;
  std::ifstream in_;
  size_t file_index_ = 0;
  int64_t bytes_ = 0, total_ = 0;
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
          "); install Debian's bible-kjv package (scripts/setup.sh does)");
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

std::unique_ptr<DocumentSource> open_text_files(const std::vector<std::string>& paths,
                                                const std::string& split) {
  return std::make_unique<TextFiles>(paths, split);
}

std::unique_ptr<DocumentSource> open_kjv() { return std::make_unique<Kjv>(); }

}  // namespace crossover
