#include "crossover/eval/tasks.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "crossover/util/lines.h"

namespace crossover {

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw std::runtime_error(where + ": " + what);
}

std::string shape(const nlohmann::json& v) {
  const std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::string string_field(const nlohmann::json& j, const char* key, const std::string& where) {
  const auto it = j.find(key);
  if (it == j.end()) fail(where, std::string("missing \"") + key + "\" (expected a string)");
  if (!it->is_string()) fail(where, std::string(key) + ": expected a string, got " + shape(*it));
  return it->get<std::string>();
}

std::vector<std::string> options_field(const nlohmann::json& j, const char* key,
                                       const std::string& where) {
  const auto it = j.find(key);
  const std::string expected = "expected an array of at least 2 non-empty strings";
  if (it == j.end()) fail(where, std::string("missing \"") + key + "\" (" + expected + ")");
  if (!it->is_array() || it->size() < 2)
    fail(where, std::string(key) + ": " + expected + ", got " + shape(*it));
  std::vector<std::string> out;
  for (const auto& o : *it) {
    if (!o.is_string() || o.get<std::string>().empty())
      fail(where, std::string(key) + ": " + expected + ", got " + shape(*it));
    out.push_back(o.get<std::string>());
  }
  return out;
}

// An option index: an integer, a string of digits (some dataset dumps quote it) or, when
// `letters`, "A", "B", ...
int64_t label_field(const nlohmann::json& j, const char* key, size_t options, bool letters,
                    const std::string& where) {
  const std::string range = "[0, " + std::to_string(options) + ")";
  const std::string expected = letters
                                   ? "expected an option index in " + range + " or a letter A.." +
                                         std::string(1, static_cast<char>('A' + options - 1))
                                   : "expected an option index in " + range;
  const auto it = j.find(key);
  if (it == j.end()) fail(where, std::string("missing \"") + key + "\" (" + expected + ")");
  int64_t index = -1;
  if (it->is_number_integer()) {
    index = it->get<int64_t>();
  } else if (it->is_string()) {
    const std::string s = it->get<std::string>();
    if (letters && s.size() == 1 && s[0] >= 'A' && s[0] <= 'Z') {
      index = s[0] - 'A';
    } else if (!s.empty() && s.size() < 10 && std::all_of(s.begin(), s.end(), [](char c) {
                 return std::isdigit(static_cast<unsigned char>(c));
               })) {
      index = std::stoll(s);
    }
  }
  if (index < 0 || index >= static_cast<int64_t>(options))
    fail(where, std::string(key) + ": " + expected + ", got " + shape(*it));
  return index;
}

// The space between context and option belongs to the option.
std::string with_leading_space(const std::string& s) {
  return !s.empty() && std::isspace(static_cast<unsigned char>(s[0])) ? s : " " + s;
}

}  // namespace

McExample parse_task_line(const std::string& line, const std::string& where) {
  const auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) fail(where, "not a JSON object: " + shape(nlohmann::json(line)));
  if (!j.is_object()) fail(where, "expected a JSON object, got " + shape(j));
  McExample e;
  if (j.contains("ctx")) {
    e.context = string_field(j, "ctx", where);
    for (const auto& o : options_field(j, "endings", where))
      e.options.push_back(with_leading_space(o));
    e.label = label_field(j, "label", e.options.size(), false, where);
  } else if (j.contains("question")) {
    e.context = "Question: " + string_field(j, "question", where) + "\nAnswer:";
    for (const auto& o : options_field(j, "choices", where))
      e.options.push_back(with_leading_space(o));
    e.label = label_field(j, "answer", e.options.size(), true, where);
  } else {
    fail(where, "expected a HellaSwag line {\"ctx\", \"endings\", \"label\"} or an MMLU line "
                "{\"question\", \"choices\", \"answer\"}");
  }
  return e;
}

McTask read_task(const std::string& path, int64_t max_examples) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open task file");
  McTask task;
  task.name = std::filesystem::path(path).stem().string();
  task.path = path;
  std::string line;
  for (int64_t number = 1; read_bounded_line(in, line, path, number); ++number) {
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    if (max_examples > 0 && static_cast<int64_t>(task.examples.size()) >= max_examples) break;
    task.examples.push_back(parse_task_line(line, path + ":" + std::to_string(number)));
  }
  if (task.examples.empty()) throw std::runtime_error(path + ": no examples");
  return task;
}

}  // namespace crossover
