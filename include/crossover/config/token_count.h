// A number of tokens as researchers write it: 123456, 50k, 1.5M, 0.5B, 96B, 1e9, or `all`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace crossover {

class TokenCount {
 public:
  TokenCount() = default;  // `all`
  explicit TokenCount(int64_t n) : n_(n) {}
  static TokenCount all() { return TokenCount(); }

  bool is_all() const { return n_ < 0; }
  int64_t value() const { return n_; }  // -1 when `all`
  // The count, or `whole` when this is `all`.
  int64_t or_all(int64_t whole) const { return is_all() ? whole : n_; }

  // Parses the forms above; std::nullopt when the text is none of them.
  static std::optional<TokenCount> parse(const std::string& text);
  // `all` or the plain integer, so that parse(str()) round-trips.
  std::string str() const;

  bool operator==(const TokenCount&) const = default;

 private:
  int64_t n_ = -1;
};

}  // namespace crossover
