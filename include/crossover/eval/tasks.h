// Multiple-choice task files (JSONL, one example per line) in the two common shapes:
//   HellaSwag: {"ctx": "...", "endings": ["...", ...], "label": 2}
//   MMLU:      {"question": "...", "choices": ["...", ...], "answer": 1 | "B"}
// Other keys on a line are ignored (real HellaSwag lines carry several). Both shapes become one
// McExample: a context and the option texts that continue it, as scored:
//   HellaSwag: context = ctx, option = " " + ending (the separating space belongs to the
//              option, as in the usual HellaSwag scoring; an ending that already starts with
//              whitespace is kept as it is);
//   MMLU:      context = "Question: " + question + "\nAnswer:", option = " " + choice (the
//              cloze form: the answer text itself is scored, not a letter).
// A malformed line stops the reader with "FILE:LINE: what was expected"; blank lines are skipped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace crossover {

struct McExample {
  std::string context;
  std::vector<std::string> options;  // at least two
  int64_t label = 0;                 // index of the right option
};

struct McTask {
  std::string name;  // the file stem: "hellaswag" for /x/hellaswag.jsonl
  std::string path;
  std::vector<McExample> examples;
};

// Reads a task file; max_examples > 0 keeps only the first max_examples examples.
McTask read_task(const std::string& path, int64_t max_examples = 0);

// Parses one line (exposed for tests); `where` prefixes errors, e.g. "tasks/x.jsonl:12".
McExample parse_task_line(const std::string& line, const std::string& where);

}  // namespace crossover
