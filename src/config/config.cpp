// Loading, validating, overriding and dumping RunConfig. Every operation is a visitor over the
// field list in config.h; errors carry "file:line: key.path: message".
#include "crossover/config/config.h"

#include "crossover/config/yaml_errors.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace crossover {

namespace rule {
// The shortest %g rendering that reads back as the same double: 0.0001, 3e-05, 10000.
std::string format_number(double v) {
  char buf[64];
  // The range test comes first: converting a double outside int64's range (1e24, inf, NaN) to
  // an integer is undefined behaviour.
  if (std::fabs(v) < 1e15 && v == std::trunc(v)) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
    return buf;
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
}  // namespace rule

namespace {

// Where each key's value came from ("configs/x.yaml:12" or "--set"), for cross-field errors.
using Locations = std::map<std::string, std::string>;

[[noreturn]] void fail(const std::string& where, const std::string& key, const std::string& msg) {
  throw ConfigError(where + ": " + key + ": " + msg);
}

std::string suggestion(const std::string& key, const std::vector<std::string>& known,
                       const std::string& prefix) {
  const std::string best = closest_key(key, known, 2);  // suggest only close matches
  return best.empty() ? "" : " (did you mean " + prefix + best + "?)";
}

// YAML text is Unicode: a string that is not valid UTF-8 could not be written back into the run
// directory's config.yaml unchanged (the emitter replaces such bytes), so it is refused.
bool valid_utf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n;
  }
  return true;
}

// Parses one YAML value into a typed field, checking the rule. Returns false on a bad value.
template <class T, class R>
bool parse_value(const YAML::Node& n, T& out, const R& rule) {
  if (!n || n.IsNull()) return false;
  T v{};
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    if (!n.IsSequence()) return false;
    for (const auto& item : n) {
      if (!item.IsScalar() || !valid_utf8(item.Scalar())) return false;
      v.push_back(item.Scalar());
    }
  } else {
    if (!n.IsScalar()) return false;
    if constexpr (std::is_same_v<T, std::string>) {
      if (!valid_utf8(n.Scalar())) return false;
      v = n.Scalar();
    } else if constexpr (Choice<T>) {
      auto parsed = parse_choice<T>(n.Scalar());
      if (!parsed) return false;
      v = *parsed;
    } else if constexpr (std::is_same_v<T, TokenCount>) {
      auto parsed = TokenCount::parse(n.Scalar());
      if (!parsed) return false;
      v = *parsed;
    } else {
      try {
        v = n.as<T>();
      } catch (const YAML::Exception&) {
        return false;
      }
      if constexpr (std::is_floating_point_v<T>)
        if (!std::isfinite(v)) return false;
    }
  }
  if (!rule.ok(v)) return false;
  out = std::move(v);
  return true;
}

// Walks a YAML mapping alongside a section's field list.
struct Loader {
  YAML::Node node;
  std::string prefix;
  std::string source;
  Locations* locations;
  std::vector<std::string> known;

  std::string where(const YAML::Node& n) const {
    return source + ":" + std::to_string(n.Mark().line + 1);
  }
  // The line of `key` itself: a null value's mark points past it.
  std::string where_key(const char* key) const {
    for (const auto& kv : node)
      if (kv.first.Scalar() == key) return where(kv.first);
    return source;
  }

  template <class T, class R>
  void field(const char* key, T& ref, const char*, const R& rule) {
    known.push_back(key);
    const YAML::Node child = node[key];
    if (!child.IsDefined()) return;
    const std::string loc = where_key(key);
    (*locations)[prefix + key] = loc;
    if (!parse_value(child, ref, rule))
      fail(loc, prefix + key,
           "expected " + rule.template expected<T>() + ", got " + describe_yaml(child));
  }

  template <class S>
  void section(const char* key, S& s, const char*) {
    known.push_back(key);
    const YAML::Node child = node[key];
    if (!child.IsDefined() || child.IsNull()) return;
    if (!child.IsMap())
      fail(where_key(key), prefix + key, "expected a mapping of keys, got " + describe_yaml(child));
    Loader sub{child, prefix + key + ".", source, locations, {}};
    s.visit(sub);
    sub.reject_unknown_keys();
  }

  void reject_unknown_keys() const {
    std::set<std::string> seen;
    for (const auto& kv : node) {
      const std::string key = kv.first.Scalar();
      if (!seen.insert(key).second) fail(where(kv.first), prefix + key, "duplicate key");
      if (std::find(known.begin(), known.end(), key) == known.end())
        fail(where(kv.first), prefix + key, "unknown key" + suggestion(key, known, prefix));
    }
  }
};

// Finds the field at a dotted path and sets it from a YAML value (for --set).
struct Setter {
  std::vector<std::string> path;  // remaining components
  std::string prefix;
  const YAML::Node& value;
  const std::string& where;
  bool found = false;
  std::vector<std::string> known;

  template <class T, class R>
  void field(const char* key, T& ref, const char*, const R& rule) {
    known.push_back(key);
    if (found || path.empty() || path[0] != key) return;
    found = true;
    if (path.size() > 1)
      fail(where, prefix + key, "is a value, not a section; it has no key " + path[1]);
    if (!parse_value(value, ref, rule))
      fail(where, prefix + key,
           "expected " + rule.template expected<T>() + ", got " + describe_yaml(value));
  }

  template <class S>
  void section(const char* key, S& s, const char*) {
    known.push_back(key);
    if (found || path.empty() || path[0] != key) return;
    found = true;
    if (path.size() == 1)
      fail(where, prefix + key,
           "is a section; set one of its keys, e.g. " + prefix + key + ".<key>");
    Setter sub{{path.begin() + 1, path.end()}, prefix + key + ".", value, where, false, {}};
    s.visit(sub);
    if (!sub.found)
      fail(where, prefix + key + "." + path[1],
           "unknown key" + suggestion(path[1], sub.known, prefix + key + "."));
  }
};

// The config as (key path, YAML text of the value, documentation) rows, in declaration order.
struct Row {
  std::string key, value, doc;
  bool is_section = false;
  std::string accepts;  // what the field's rule accepts, in words
};

std::string yaml_scalar(const std::string& s) {
  YAML::Emitter e;
  e << s;
  return e.c_str();
}

struct Flattener {
  std::vector<Row>* rows;
  std::string prefix;

  template <class T, class R>
  void field(const char* key, const T& ref, const char* doc, const R& rule) {
    std::string text;
    if constexpr (std::is_same_v<T, bool>) text = ref ? "true" : "false";
    else if constexpr (std::is_integral_v<T>) text = std::to_string(ref);
    else if constexpr (std::is_floating_point_v<T>) text = rule::format_number(ref);
    else if constexpr (std::is_same_v<T, TokenCount>) text = ref.str();
    else if constexpr (Choice<T>) text = yaml_scalar(to_string(ref));
    else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      YAML::Emitter e;
      e << YAML::Flow << ref;
      text = e.c_str();
    } else text = yaml_scalar(ref);
    rows->push_back({prefix + key, text, doc, false, rule.template expected<T>()});
  }

  template <class S>
  void section(const char* key, S& s, const char* doc) {
    rows->push_back({prefix + key, "", doc, true, ""});
    Flattener sub{rows, prefix + key + "."};
    s.visit(sub);
  }
};

std::vector<Row> flatten(const RunConfig& config) {
  std::vector<Row> rows;
  Flattener f{&rows, ""};
  const_cast<RunConfig&>(config).visit(f);  // Flattener only reads
  return rows;
}

std::string location(const Locations& locs, const std::string& key, const std::string& source) {
  auto it = locs.find(key);
  return it != locs.end() ? it->second : source;
}

void validate_with(const RunConfig& c, const Locations& locs, const std::string& source) {
  auto check = [&](bool ok, const std::string& key, const std::string& msg) {
    if (!ok) fail(location(locs, key, source), key, msg);
  };
  const auto& m = c.model;
  check(m.d_model % m.heads == 0, "model.heads",
        "must divide model.d_model (" + std::to_string(m.d_model) + "), got " +
            std::to_string(m.heads));
  check(m.head_dim() % 2 == 0, "model.heads",
        "model.d_model / model.heads must be even for RoPE, got head dim " +
            std::to_string(m.head_dim()));
  check(m.heads % m.kv_heads_resolved() == 0, "model.kv_heads",
        "must divide model.heads (" + std::to_string(m.heads) + "), got " +
            std::to_string(m.kv_heads));
  check(m.dropout == 0 || m.layers <= 80, "model.dropout",
        "its masks cover at most 80 layers (model/dropout.h), the model has " +
            std::to_string(m.layers));
  check(c.optimizer.min_lr <= c.optimizer.lr, "optimizer.min_lr",
        "must not exceed optimizer.lr (" + rule::format_number(c.optimizer.lr) + "), got " +
            rule::format_number(c.optimizer.min_lr));
  const auto& t = c.training;
  check(t.micro_batch <= t.global_batch, "training.micro_batch",
        "must not exceed training.global_batch (" + std::to_string(t.global_batch) + "), got " +
            std::to_string(t.micro_batch));
  check(t.micro_batch == 0 || t.global_batch % t.micro_batch == 0, "training.micro_batch",
        "must divide training.global_batch (" + std::to_string(t.global_batch) + "), got " +
            std::to_string(t.micro_batch));
  check(
      !(c.objective.type == ObjectiveType::kAr && c.objective.loss_weight != LossWeight::kInverseT),
      "objective.loss_weight", "applies to mdm only; leave it at inverse_t for ar");
  check(!(c.objective.type == ObjectiveType::kMdm && c.objective.ar_input_mask_prob > 0),
        "objective.ar_input_mask_prob", "applies to ar only; mdm masks by its schedule");
}

std::pair<std::string, std::string> split_assignment(const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment + ": expected key.path=value");
  return {assignment.substr(0, eq), assignment.substr(eq + 1)};
}

void apply_override_at(RunConfig& config, const std::string& assignment, Locations& locs) {
  auto [key, text] = split_assignment(assignment);
  const std::string where = "--set " + assignment;
  YAML::Node value;
  try {
    value = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail(where, key, "malformed value: " + e.msg);
  }
  std::vector<std::string> path;
  std::stringstream ss(key);
  for (std::string part; std::getline(ss, part, '.');) path.push_back(part);
  Setter s{path, "", value, where, false, {}};
  config.visit(s);
  if (!s.found) fail(where, key, "unknown key" + suggestion(path[0], s.known, ""));
  locs[key] = where;
}

}  // namespace

RunConfig parse_config(const std::string& yaml_text, const std::string& source,
                       const std::vector<std::string>& overrides) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(source + ":" + std::to_string(e.mark.line + 1) +
                      ": malformed YAML: " + e.msg);
  }
  RunConfig config;
  Locations locs;
  if (root.IsDefined() && !root.IsNull()) {
    if (!root.IsMap())
      throw ConfigError(source + ":" + std::to_string(root.Mark().line + 1) +
                        ": expected a mapping of sections (model:, data:, ...), got " +
                        describe_yaml(root));
    Loader top{root, "", source, &locs, {}};
    config.visit(top);
    top.reject_unknown_keys();
  }
  for (const auto& o : overrides) apply_override_at(config, o, locs);
  validate_with(config, locs, source);
  return config;
}

RunConfig load_config(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open config file (does it exist?)");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_config(buf.str(), path, overrides);
}

void apply_override(RunConfig& config, const std::string& assignment) {
  Locations locs;
  RunConfig candidate = config;
  apply_override_at(candidate, assignment, locs);
  validate_with(candidate, locs, "--set " + assignment);
  config = std::move(candidate);
}

void validate(const RunConfig& config, const std::string& source) {
  validate_with(config, {}, source);
}

std::string dump_config(const RunConfig& config, bool with_comments) {
  std::string out;
  for (const auto& row : flatten(config)) {
    const auto dot = row.key.rfind('.');
    const std::string name = dot == std::string::npos ? row.key : row.key.substr(dot + 1);
    std::string line = row.is_section ? name + ":" : "  " + name + ": " + row.value;
    if (with_comments) {
      line.resize(std::max<size_t>(line.size(), row.is_section ? 0 : 32), ' ');
      line += (row.is_section ? "  # " : " # ") + row.doc;
    }
    if (row.is_section && !out.empty()) out += "\n";
    out += line + "\n";
  }
  return out;
}

std::string config_reference() {
  std::string out =
      "# Configuration reference\n\n"
      "<!-- Generated by `crossover config docs --out docs/configuration.md` from the config list\n"
      "     (include/crossover/config/config.h); a test fails when this page is out of date. -->\n\n"
      "Every key of a run config, with its default and what it accepts. A run config is a YAML\n"
      "file of these sections; a key left out takes its default. `--set section.key=value`\n"
      "overrides any of them with the same checks, and `crossover config show FILE` prints a\n"
      "resolved config with this documentation. How to write configs:\n"
      "[configuration-guide.md](configuration-guide.md).\n";
  // Markdown table cells: a '|' would end the cell.
  const auto cell = [](std::string s) {
    for (size_t i = 0; (i = s.find('|', i)) != std::string::npos; i += 2) s.replace(i, 1, "\\|");
    return s;
  };
  for (const auto& row : flatten(RunConfig{})) {
    if (row.is_section) {
      out += "\n## " + row.key + "\n\n" + row.doc + "\n\n";
      out += "| key | default | accepts | meaning |\n|---|---|---|---|\n";
      continue;
    }
    const std::string value = row.value.empty() ? "\"\"" : row.value;
    out += "| `" + row.key + "` | `" + cell(value) + "` | " + cell(row.accepts) + " | " +
           cell(row.doc) + " |\n";
  }
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& row : flatten(RunConfig{}))
    if (!row.is_section) keys.push_back(row.key);
  return keys;
}

std::string config_value(const RunConfig& config, const std::string& key) {
  for (const auto& row : flatten(config))
    if (!row.is_section && row.key == key) return row.value;
  throw ConfigError(key + ": unknown key");
}

std::vector<std::string> config_differences(const RunConfig& a, const RunConfig& b) {
  const auto ra = flatten(a), rb = flatten(b);
  std::vector<std::string> diff;
  for (size_t i = 0; i < ra.size(); ++i)
    if (!ra[i].is_section && ra[i].value != rb[i].value) diff.push_back(ra[i].key);
  return diff;
}

}  // namespace crossover
