// Document sources for `crossover prepare`: text files split into documents, and the bundled
// King James Bible. Every source is streamed (one document in memory at a time) and can be
// rewound, because prepare reads the corpus in several passes.
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
  // Input bytes consumed so far in this pass, and in all (-1 when unknown).
  virtual int64_t bytes_read() const = 0;
  virtual int64_t total_bytes() const = 0;
  // Where the documents come from, for meta.json.
  virtual std::vector<std::string> sources() const = 0;
};

// Files read in order. split: "line" (each non-empty line), "blank-line" (paragraphs separated
// by blank lines) or "file" (one document per file; that file is held in memory).
std::unique_ptr<DocumentSource> open_text_files(const std::vector<std::string>& paths,
                                                const std::string& split);

// The King James Bible from Debian's bible-kjv package (`bible -f Ge1:1-Re22:21`): one
// document per chapter (1189), verses one per line with their reference ("Ge1:1 ") removed.
std::unique_ptr<DocumentSource> open_kjv();

// Splits a KJV line "1Sam3:10 And the LORD came..." into chapter key "1Sam3" and the verse
// text; false when the line does not start with a verse reference.
bool parse_kjv_line(const std::string& line, std::string* chapter, std::string* text);

}  // namespace crossover
