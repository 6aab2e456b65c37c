// Value rules for config fields. Each rule checks a parsed value and describes, in words, what
// it accepts; the loader turns that description into errors such as
// `configs/x.yaml:12: optimizer.lr: expected a positive number, got "fast"`.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "crossover/config/choices.h"
#include "crossover/config/token_count.h"

namespace crossover::rule {

// The noun for a type, used in error messages: "integer", "number", ...
template <class T>
std::string noun() {
  if constexpr (std::is_same_v<T, bool>) return "boolean";
  else if constexpr (std::is_integral_v<T>) return "integer";
  else if constexpr (std::is_floating_point_v<T>) return "number";
  else if constexpr (std::is_same_v<T, TokenCount>) return "token count";
  else if constexpr (std::is_same_v<T, std::vector<std::string>>) return "list of strings";
  else return "string";
}

inline std::string with_article(const std::string& s) {
  if (s.empty()) return s;
  const char c = s[0];
  const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
  return (vowel ? "an " : "a ") + s;
}

// Accepts every value of the type.
struct Any {
  template <class T>
  bool ok(const T&) const {
    return true;
  }
  template <class T>
  std::string expected() const {
    if constexpr (std::is_same_v<T, bool>) return "true or false";
    else if constexpr (std::is_same_v<T, TokenCount>)
      return "a token count (an integer, 50k, 1.5M, 2B, or all)";
    else if constexpr (Choice<T>) return choice_list<T>();
    else return with_article(noun<T>());
  }
};

struct Positive {
  template <class T>
  bool ok(const T& v) const {
    if constexpr (std::is_same_v<T, TokenCount>) return v.is_all() || v.value() > 0;
    else return v > 0;
  }
  template <class T>
  std::string expected() const {
    if constexpr (std::is_same_v<T, TokenCount>)
      return "a positive token count (an integer, 50k, 1.5M, 2B, or all)";
    else return "a positive " + noun<T>();
  }
};

struct NonNegative {
  template <class T>
  bool ok(const T& v) const {
    return v >= 0;
  }
  template <class T>
  std::string expected() const {
    return "a non-negative " + noun<T>();
  }
};

// lo <= v <= hi, with either end optionally open.
struct Range {
  double lo, hi;
  bool lo_open = false, hi_open = false;
  template <class T>
  bool ok(const T& v) const {
    const double d = static_cast<double>(v);
    return (lo_open ? d > lo : d >= lo) && (hi_open ? d < hi : d <= hi);
  }
  template <class T>
  std::string expected() const;
};

struct OneOf {
  std::vector<std::string> choices;
  bool ok(const std::string& v) const {
    for (const auto& c : choices)
      if (c == v) return true;
    return false;
  }
  template <class T>
  std::string expected() const {
    std::string s = "one of ";
    for (size_t i = 0; i < choices.size(); ++i) s += (i ? ", " : "") + choices[i];
    return s;
  }
};

std::string format_number(double v);

template <class T>
std::string Range::expected() const {
  return with_article(noun<T>()) + " in " + (lo_open ? "(" : "[") + format_number(lo) + ", " +
         format_number(hi) + (hi_open ? ")" : "]");
}

}  // namespace crossover::rule
