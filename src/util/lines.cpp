#include "crossover/util/lines.h"

#include <stdexcept>

namespace crossover {

bool read_bounded_line(std::istream& in, std::string& line, const std::string& where,
                       int64_t line_number, size_t max_bytes) {
  line.clear();
  std::streambuf* buf = in.rdbuf();
  if (!in.good() || buf == nullptr) return false;
  bool any = false;
  for (;;) {
    const int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(any ? std::ios::eofbit : std::ios::eofbit | std::ios::failbit);
      break;
    }
    any = true;
    if (c == '\n') break;
    if (line.size() >= max_bytes)
      throw std::runtime_error(where + ":" + std::to_string(line_number) + ": a line longer than " +
                               (max_bytes >= (size_t{1} << 20)
                                    ? std::to_string(max_bytes >> 20) + " MiB"
                                    : std::to_string(max_bytes) + " bytes") +
                               ", which no valid file has; refused before reading it whole");
    line.push_back(static_cast<char>(c));
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return any;
}

}  // namespace crossover
