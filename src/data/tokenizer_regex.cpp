// The pre-tokenizer regexes on PCRE2 with its JIT (see tokenizer_bpe.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>

#include "crossover/data/tokenizer_bpe.h"

namespace crossover::bpe {

namespace {

// Unicode's White_Space: what \s matches in both references (not PCRE2's, which adds U+180E).
constexpr const char* kSpaceSet = "\\t-\\r\\x{85}\\p{Z}";

// Per thread: match data and a JIT stack large enough for long runs of one class (a megabyte
// of spaces backtracks through \s+(?!\S)).
struct ThreadMatch {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_jit_stack* stack = pcre2_jit_stack_create(32 << 10, 64 << 20, nullptr);
  pcre2_match_context* context = pcre2_match_context_create(nullptr);
  ThreadMatch() { pcre2_jit_stack_assign(context, nullptr, stack); }
  ~ThreadMatch() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
};

ThreadMatch& thread_match() {
  thread_local ThreadMatch m;
  return m;
}

}  // namespace

std::string rewrite_whitespace_classes(const std::string& p) {
  std::string out;
  bool in_class = false, negated = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      ++i;
      if (e == 's') {
        out += in_class ? std::string(kSpaceSet) : "[" + std::string(kSpaceSet) + "]";
      } else if (e == 'S') {
        if (in_class)
          throw std::invalid_argument("regex " + p +
                                      ": \\S inside a character class is not supported");
        out += "[^" + std::string(kSpaceSet) + "]";
      } else if (e == 'Q') {  // a quoted literal run: copied to \E untouched
        const size_t end = p.find("\\E", i + 1);
        const size_t stop = end == std::string::npos ? p.size() : end + 2;
        out += p.substr(i - 1, stop - (i - 1));
        i = stop - 1;
      } else {
        out += c;
        out += e;
      }
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' first in the class (after an optional '^') is a literal.
      if (i + 1 < p.size() && p[i + 1] == '^') out += p[++i], negated = true;
      if (i + 1 < p.size() && p[i + 1] == ']') out += p[++i];
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // [:alpha:]
      const size_t end = p.find(":]", i + 2);
      const size_t stop = end == std::string::npos ? p.size() : end + 2;
      out += p.substr(i, stop - i);
      i = stop - 1;
      continue;
    }
    if (in_class && c == ']') in_class = negated = false;
    out += c;
  }
  (void)negated;
  return out;
}

Regex::Regex(const std::string& pattern, bool dollar_end_only, const std::string& where)
    : pattern_(pattern) {
  const std::string rewritten = rewrite_whitespace_classes(pattern);
  int error = 0;
  PCRE2_SIZE offset = 0;
  const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK |
                           (dollar_end_only ? PCRE2_DOLLAR_ENDONLY : PCRE2_MULTILINE);
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                   options, &error, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    throw std::runtime_error(where + ": regex " + pattern + ": " +
                             reinterpret_cast<const char*>(message) + " at offset " +
                             std::to_string(offset));
  }
  if (pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) != 0) {
    pcre2_code_free(code);
    throw std::runtime_error(where + ": regex " + pattern + ": PCRE2 JIT compilation failed");
  }
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

bool Regex::next_match(std::string_view text, size_t* at, size_t* start, size_t* end) const {
  ThreadMatch& m = thread_match();
  while (*at < text.size()) {
    const int rc = pcre2_jit_match(static_cast<pcre2_code*>(code_),
                                   reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), *at, 0,
                                   m.data, m.context);
    if (rc == PCRE2_ERROR_NOMATCH) return false;
    if (rc < 0) {
      PCRE2_UCHAR message[256];
      pcre2_get_error_message(rc, message, sizeof(message));
      throw std::runtime_error("regex " + pattern_ + ": " + reinterpret_cast<const char*>(message));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.data);
    *start = ov[0];
    *end = ov[1];
    if (*end > *start) {
      *at = *end;
      return true;
    }
    // An empty match finds nothing: go on after the next character.
    size_t next = *start + 1;
    while (next < text.size() && (static_cast<uint8_t>(text[next]) & 0xC0) == 0x80) ++next;
    *at = next;
  }
  return false;
}

int64_t count_unassigned_codepoints(std::string_view text) {
  if (is_ascii(text)) return 0;
  std::string repaired;
  if (!valid_utf8(text)) repaired = repair_utf8(text), text = repaired;
  static const Regex unassigned("\\p{Cn}+", true, "unassigned code points");
  int64_t n = 0;
  unassigned.for_each_match(text, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) n += (static_cast<uint8_t>(text[i]) & 0xC0) != 0x80;
  });
  return n;
}

std::string pcre2_unicode_version() {
  char version[32] = {};
  pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, version);
  return version;
}

}  // namespace crossover::bpe
