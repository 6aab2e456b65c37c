// Task files: both JSONL forms parse into the same example shape, and every malformed line is
// rejected with FILE:LINE and what was expected.
#include <gtest/gtest.h>

#include "crossover/eval/tasks.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;
using testing::write_file;

// The message of the error read_task throws on `text` ("" when it does not throw).
std::string error_of(const TempDir& dir, const std::string& text) {
  const std::string path = dir / "task.jsonl";
  write_file(path, text);
  try {
    read_task(path);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(EvalTasks, ReadsHellaSwagAndMmluForms) {
  TempDir dir;
  const std::string path = dir / "mixed-task.jsonl";
  write_file(
      path,
      R"({"ctx": "A man sits down", "endings": ["and eats.", "and flies.", " and sleeps."], "label": 2, "ind": 7})"
      "\n\n"
      R"({"question": "2 + 2 =", "choices": ["3", "4", "5", "22"], "answer": "B"})"
      "\n"
      R"({"question": "Sky colour?", "choices": ["blue", "green"], "answer": 0})"
      "\r\n"
      R"({"ctx": "x", "endings": ["a", "b"], "label": "1"})"
      "\n");
  const McTask t = read_task(path);
  EXPECT_EQ(t.name, "mixed-task");
  ASSERT_EQ(t.examples.size(), 4u);
  EXPECT_EQ(t.examples[0].context, "A man sits down");
  // The separating space belongs to the option; one that already has it is kept as it is.
  EXPECT_EQ(t.examples[0].options,
            (std::vector<std::string>{" and eats.", " and flies.", " and sleeps."}));
  EXPECT_EQ(t.examples[0].label, 2);
  EXPECT_EQ(t.examples[1].context, "Question: 2 + 2 =\nAnswer:");
  EXPECT_EQ(t.examples[1].options[1], " 4");
  EXPECT_EQ(t.examples[1].label, 1);  // "B"
  EXPECT_EQ(t.examples[2].label, 0);
  EXPECT_EQ(t.examples[3].label, 1);  // a quoted index, as some dataset dumps write it
  EXPECT_EQ(read_task(path, 2).examples.size(), 2u);
}

TEST(EvalTasks, MalformedLinesAreRejectedWithFileLineAndWhatWasExpected) {
  TempDir dir;
  const std::string f = dir / "task.jsonl";
  const std::string good = R"({"ctx": "c", "endings": ["a", "b"], "label": 0})";
  const std::vector<std::pair<std::string, std::string>> cases = {
      // HellaSwag form
      {good + "\n{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 2}\n",
       f + ":2: label: expected an option index in [0, 2), got 2"},
      {good + "\n" + good + "\n{\"ctx\": \"c\", \"endings\": [\"a\"], \"label\": 0}\n",
       f + ":3: endings: expected an array of at least 2 non-empty strings, got [\"a\"]"},
      {"{\"ctx\": 5, \"endings\": [\"a\", \"b\"], \"label\": 0}\n",
       f + ":1: ctx: expected a string, got 5"},
      {"{\"ctx\": \"c\", \"endings\": [\"a\", 3], \"label\": 0}\n",
       f + ":1: endings: expected an array of at least 2 non-empty strings"},
      {"{\"ctx\": \"c\", \"label\": 0}\n", f + ":1: missing \"endings\""},
      {"{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"]}\n", f + ":1: missing \"label\""},
      {"{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": \"B\"}\n",
       f + ":1: label: expected an option index in [0, 2), got \"B\""},
      // MMLU form
      {"{\"question\": \"q\", \"choices\": [\"a\", \"b\", \"c\"], \"answer\": \"D\"}\n",
       f + ":1: answer: expected an option index in [0, 3) or a letter A..C, got \"D\""},
      {"{\"question\": \"q\", \"choices\": \"abc\", \"answer\": 0}\n",
       f + ":1: choices: expected an array of at least 2 non-empty strings, got \"abc\""},
      {"{\"question\": [\"q\"], \"choices\": [\"a\", \"b\"], \"answer\": 0}\n",
       f + ":1: question: expected a string"},
      {"{\"question\": \"q\", \"choices\": [\"a\", \"\"], \"answer\": 1.5}\n",
       f + ":1: choices: expected an array of at least 2 non-empty strings"},
      {"{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 1.5}\n",
       f + ":1: answer: expected an option index in [0, 2) or a letter A..B, got 1.5"},
      // Neither form, not JSON, not an object, nothing at all
      {good + "\n{\"prompt\": \"p\"}\n", f + ":2: expected a HellaSwag line"},
      {good + "\n\n{\"ctx\": \"c\", \"endings\": [\"a\", \"b\"], \"label\": 0\n",
       f + ":3: not a JSON object"},
      {"[1, 2]\n", f + ":1: expected a JSON object, got [1,2]"},
      {"\n \n", f + ": no examples"},
  };
  for (const auto& [text, expected] : cases) {
    const std::string e = error_of(dir, text);
    EXPECT_EQ(e.rfind(expected, 0), 0u) << "input:\n"
                                        << text << "error: " << e << "\nexpected: " << expected;
  }
  EXPECT_EQ(error_of(dir, good + "\n"), "");
  EXPECT_NE(error_of(dir, "").find("no examples"), std::string::npos);
  try {
    read_task(dir / "missing.jsonl");
    FAIL();
  } catch (const std::exception& e) {
    EXPECT_EQ(std::string(e.what()), dir / "missing.jsonl" + ": cannot open task file");
  }
}

}  // namespace
}  // namespace crossover
