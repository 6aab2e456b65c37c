// UTF-8 validation and repair, and GPT-2's byte-level alphabet (see tokenizer_bpe.h).
#include <algorithm>
#include <array>

#include "crossover/data/tokenizer_bpe.h"

namespace crossover::bpe {

namespace {

// The bytes that may follow lead byte `b` as its first continuation (Unicode Table 3-7), and
// how many continuation bytes it needs; need 0: `b` starts no well-formed sequence.
struct Lead {
  int need;
  uint8_t lo, hi;
};

Lead lead_of(uint8_t b) {
  if (b >= 0xC2 && b <= 0xDF) return {1, 0x80, 0xBF};
  if (b == 0xE0) return {2, 0xA0, 0xBF};
  if ((b >= 0xE1 && b <= 0xEC) || b == 0xEE || b == 0xEF) return {2, 0x80, 0xBF};
  if (b == 0xED) return {2, 0x80, 0x9F};  // no surrogates
  if (b == 0xF0) return {3, 0x90, 0xBF};  // no overlong forms
  if (b >= 0xF1 && b <= 0xF3) return {3, 0x80, 0xBF};
  if (b == 0xF4) return {3, 0x80, 0x8F};  // <= U+10FFFF
  return {0, 0, 0};
}

// The length of the well-formed sequence at text[i] (> 0), or minus the length of the maximal
// ill-formed subpart there.
int sequence_at(std::string_view text, size_t i) {
  const auto b = static_cast<uint8_t>(text[i]);
  if (b < 0x80) return 1;
  const Lead lead = lead_of(b);
  if (lead.need == 0) return -1;
  size_t j = i + 1;
  for (int k = 0; k < lead.need; ++k, ++j) {
    if (j >= text.size()) return -static_cast<int>(j - i);
    const auto c = static_cast<uint8_t>(text[j]);
    const uint8_t lo = k == 0 ? lead.lo : 0x80, hi = k == 0 ? lead.hi : 0xBF;
    if (c < lo || c > hi) return -static_cast<int>(j - i);
  }
  return static_cast<int>(j - i);
}

std::array<uint32_t, 256> make_byte_map() {
  std::array<uint32_t, 256> map{};
  uint32_t n = 0;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    map[b] = printable ? static_cast<uint32_t>(b) : 256 + n++;
  }
  return map;
}

const std::array<uint32_t, 256> kByteMap = make_byte_map();

}  // namespace

void append_utf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return static_cast<uint8_t>(c) < 0x80; });
}

bool valid_utf8(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    const int n = sequence_at(text, i);
    if (n < 0) return false;
    i += static_cast<size_t>(n);
  }
  return true;
}

std::string repair_utf8(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 8);
  for (size_t i = 0; i < text.size();) {
    const int n = sequence_at(text, i);
    if (n > 0) {
      out.append(text.data() + i, static_cast<size_t>(n));
      i += static_cast<size_t>(n);
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD
      i += static_cast<size_t>(-n);
    }
  }
  return out;
}

uint32_t byte_to_codepoint(uint8_t b) { return kByteMap[b]; }

std::string byte_level_encode(std::string_view bytes) {
  std::string out;
  for (char c : bytes) append_utf8(kByteMap[static_cast<uint8_t>(c)], &out);
  return out;
}

bool byte_level_decode(std::string_view text, std::string* bytes) {
  static const std::array<int, 324> inverse = [] {
    std::array<int, 324> inv{};
    inv.fill(-1);
    for (int b = 0; b < 256; ++b) inv[kByteMap[b]] = b;
    return inv;
  }();
  bytes->clear();
  for (size_t i = 0; i < text.size();) {
    const int n = sequence_at(text, i);
    if (n <= 0) return false;
    uint32_t cp;
    const auto* p = reinterpret_cast<const uint8_t*>(text.data() + i);
    if (n == 1) cp = p[0];
    else if (n == 2) cp = ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    else return false;  // the alphabet ends at U+0143
    if (cp >= inverse.size() || inverse[cp] < 0) return false;
    bytes->push_back(static_cast<char>(inverse[cp]));
    i += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace crossover::bpe
