// Line-by-line reading with a bound. std::getline holds a whole line in memory however long it
// is, so a corrupt or hostile file with one 1 GB line would be allocated before anything
// could refuse it. Every reader of line-oriented outside input (task JSONL, metrics.jsonl)
// reads through this instead, and a line longer than any valid one is refused by name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>

namespace crossover {

// No line of a valid task file or metrics.jsonl comes near this.
inline constexpr size_t kMaxLineBytes = size_t{64} << 20;

// The next line of `in` into `line`, without its '\n' (nor a '\r' before it); false at the end
// (a last line without a newline is still a line). A line longer than max_bytes throws
// std::runtime_error naming `where`:`line_number`, the limit, and that no valid file has one.
bool read_bounded_line(std::istream& in, std::string& line, const std::string& where,
                       int64_t line_number, size_t max_bytes = kMaxLineBytes);

}  // namespace crossover
