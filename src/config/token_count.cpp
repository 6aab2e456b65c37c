#include "crossover/config/token_count.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

namespace crossover {

std::optional<TokenCount> TokenCount::parse(const std::string& raw) {
  std::string text;
  for (char c : raw)
    if (c != '_' && c != ',' && !std::isspace(static_cast<unsigned char>(c))) text += c;
  if (text == "all") return TokenCount::all();
  if (text.empty()) return std::nullopt;
  double scale = 1.0;
  switch (text.back()) {
    case 'k':
    case 'K': scale = 1e3; break;
    case 'M': scale = 1e6; break;
    case 'B':
    case 'G': scale = 1e9; break;
    case 'T': scale = 1e12; break;
    default: break;
  }
  if (scale != 1.0) text.pop_back();
  if (text.empty() || text[0] == '-' || text[0] == '+') return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  const double n = v * scale;
  // Counts are whole tokens; 1.5k is fine, 1.0005k is not.
  if (n < 0 || n > 9.2e18 || std::fabs(n - std::round(n)) > 1e-6 * std::max(1.0, n))
    return std::nullopt;
  return TokenCount(static_cast<int64_t>(std::llround(n)));
}

std::string TokenCount::str() const { return is_all() ? "all" : std::to_string(n_); }

}  // namespace crossover
