// Sweep file parsing: the file's structure, its keys (every run-config key it names must exist)
// and its own values (total_tokens, eval schedule). Values of run-config keys are checked later
// by the run-config machinery, when the points are resolved.
#include "crossover/sweep/sweep_file.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "crossover/config/config.h"
#include "crossover/config/rules.h"
#include "crossover/config/token_count.h"
#include "crossover/config/yaml_errors.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const std::string& where, const std::string& key, const std::string& msg) {
  throw ConfigError(where + ": " + key + ": " + msg);
}

std::string where(const std::string& source, const YAML::Node& n) {
  return source + ":" + std::to_string(n.Mark().line + 1);
}

std::string did_you_mean(const std::string& key, const std::vector<std::string>& known) {
  const std::string best = closest_key(key, known, std::max<size_t>(3, key.size() / 4) - 1);
  return best.empty() ? "" : " (did you mean " + best + "?)";
}

// A run-config key named in the sweep file must exist: a typo fails here, with its line.
void check_config_key(const std::string& key, const std::string& at, const std::string& context) {
  static const std::vector<std::string> keys = config_keys();
  if (std::find(keys.begin(), keys.end(), key) == keys.end())
    fail(at, context + key, "unknown run-config key" + did_you_mean(key, keys));
}

// The value as YAML text that apply_override reads back to the same value.
std::string yaml_text(const YAML::Node& n) {
  if (n.IsScalar()) {
    // Plain scalars stay as written ("0.5B", "1e-3"); the emitter would quote some of them.
    const std::string s = n.Scalar();
    try {
      const YAML::Node back = YAML::Load(s);
      if (back.IsScalar() && back.Scalar() == s) return s;
    } catch (const YAML::Exception&) {
    }
  }
  YAML::Emitter e;
  e << YAML::Flow << n;
  return e.c_str();
}

// A mapping of settings, nested sections flattened: {model: {layers: 2}} == {model.layers: 2}.
void collect_settings(const YAML::Node& map, const std::string& prefix, const std::string& source,
                      const std::string& context, std::vector<SweepSetting>& out) {
  for (const auto& kv : map) {
    const std::string key = prefix + kv.first.Scalar();
    const std::string at = where(source, kv.first);
    if (kv.second.IsMap()) {
      collect_settings(kv.second, key + ".", source, context, out);
      continue;
    }
    check_config_key(key, at, context);
    if (!kv.second || kv.second.IsNull()) fail(at, context + key, "expected a value, got nothing");
    for (const auto& s : out)
      if (s.key == key) fail(at, context + key, "set twice (also at " + s.where + ")");
    out.push_back({key, yaml_text(kv.second), at});
  }
}

// Point names are directory names: keep them to a portable character set.
std::string sanitize(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' ||
                    c == '+' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

std::string value_label(const std::string& axis, const YAML::Node& value) {
  const std::string text = value.IsScalar() ? value.Scalar() : yaml_text(value);
  if (axis == "objective.type") return sanitize(text);
  if (axis == "data.unique_tokens" || axis == "data.total_tokens") {
    const std::string prefix = axis == "data.unique_tokens" ? "u" : "t";
    const auto count = TokenCount::parse(text);
    // A malformed count is reported by the run-config check when the point is resolved.
    if (!count) return prefix + sanitize(text);
    return prefix + (count->is_all() ? std::string("all") : compact_tokens(count->value()));
  }
  return sanitize(axis.substr(axis.rfind('.') + 1) + text);
}

void reject_unknown(const YAML::Node& map, const std::vector<std::string>& known,
                    const std::string& source, const std::string& prefix) {
  std::set<std::string> seen;
  for (const auto& kv : map) {
    const std::string key = kv.first.Scalar();
    if (!seen.insert(key).second) fail(where(source, kv.first), prefix + key, "duplicate key");
    if (std::find(known.begin(), known.end(), key) == known.end())
      fail(where(source, kv.first), prefix + key, "unknown key" + did_you_mean(key, known));
  }
}

// The line of `key` itself inside `map` (a null value's mark points past it).
std::string key_where(const YAML::Node& map, const std::string& key, const std::string& source) {
  for (const auto& kv : map)
    if (kv.first.Scalar() == key) return where(source, kv.first);
  return source;
}

void parse_axes(const YAML::Node& node, const std::string& source, SweepFile& s) {
  std::set<std::string> names;
  for (const auto& kv : node) {
    SweepAxis axis;
    axis.name = kv.first.Scalar();
    axis.where = where(source, kv.first);
    if (!names.insert(axis.name).second) fail(axis.where, "axes." + axis.name, "duplicate axis");
    const YAML::Node& values = kv.second;
    if (values.IsSequence()) {
      check_config_key(axis.name, axis.where, "axes.");
      for (const auto& v : values) {
        SweepAxisValue value;
        value.where = where(source, v);
        if (!v || v.IsNull()) fail(value.where, "axes." + axis.name, "empty value in the list");
        value.label = value_label(axis.name, v);
        value.settings.push_back({axis.name, yaml_text(v), value.where});
        axis.values.push_back(std::move(value));
      }
    } else if (values.IsMap()) {
      axis.presets = true;
      for (const auto& preset : values) {
        SweepAxisValue value;
        value.where = where(source, preset.first);
        value.label = sanitize(preset.first.Scalar());
        if (!preset.second.IsMap() || preset.second.size() == 0)
          fail(value.where, "axes." + axis.name + "." + preset.first.Scalar(),
               "expected a mapping of run-config keys to values, got " +
                   describe_yaml(preset.second));
        collect_settings(preset.second, "", source,
                         "axes." + axis.name + "." + preset.first.Scalar() + ": ", value.settings);
        axis.values.push_back(std::move(value));
      }
    } else {
      fail(axis.where, "axes." + axis.name,
           "expected a list of values or a mapping of named presets, got " + describe_yaml(values));
    }
    if (axis.values.empty()) fail(axis.where, "axes." + axis.name, "has no values");
    std::map<std::string, std::string> labels;
    for (const auto& v : axis.values)
      if (!labels.emplace(v.label, v.where).second)
        fail(v.where, "axes." + axis.name,
             "value \"" + v.label + "\" appears twice (also at " + labels[v.label] + ")");
    s.axes.push_back(std::move(axis));
  }
  // Two axes setting one key would make grid points collide or silently override each other.
  std::map<std::string, std::string> owner;
  for (const auto& axis : s.axes)
    for (const auto& v : axis.values)
      for (const auto& setting : v.settings) {
        auto [it, fresh] = owner.emplace(setting.key, axis.name);
        if (!fresh && it->second != axis.name)
          fail(setting.where, setting.key,
               "is set by two axes (" + it->second + " and " + axis.name + ")");
      }
}

// `only:` entries, resolved to the axes' value labels.
void parse_only(const YAML::Node& node, const std::string& at, const std::string& source,
                SweepFile& s) {
  if (!node.IsSequence() || node.size() == 0)
    fail(at, "only",
         "expected a list of mappings (axis: value or [values]), got " + describe_yaml(node));
  for (const auto& entry : node) {
    SweepFilter f;
    f.where = where(source, entry);
    if (!entry.IsMap() || entry.size() == 0)
      fail(f.where, "only", "expected a mapping of axes to values, got " + describe_yaml(entry));
    for (const auto& kv : entry) {
      const std::string name = kv.first.Scalar();
      const std::string w = where(source, kv.first);
      const auto axis = std::find_if(s.axes.begin(), s.axes.end(),
                                     [&](const SweepAxis& a) { return a.name == name; });
      if (axis == s.axes.end()) {
        std::vector<std::string> names;
        for (const auto& a : s.axes) names.push_back(a.name);
        fail(w, "only." + name, "not an axis of this sweep" + did_you_mean(name, names));
      }
      std::vector<YAML::Node> values;
      if (kv.second.IsSequence())
        for (const auto& v : kv.second) values.push_back(v);
      else values.push_back(kv.second);
      std::vector<std::string> labels;
      for (const auto& v : values) {
        if (!v.IsScalar()) fail(w, "only." + name, "expected a value, got " + describe_yaml(v));
        const std::string text = v.Scalar();
        const auto count = TokenCount::parse(text);
        const auto match =
            std::find_if(axis->values.begin(), axis->values.end(), [&](const SweepAxisValue& a) {
              if (a.label == sanitize(text) || a.label == value_label(name, v)) return true;
              if (axis->presets || a.settings.size() != 1) return false;
              const auto theirs = TokenCount::parse(a.settings[0].value);
              return a.settings[0].value == text || (count && theirs && *count == *theirs);
            });
        if (match == axis->values.end())
          fail(w, "only." + name, "\"" + text + "\" is not one of the axis' values");
        labels.push_back(match->label);
      }
      f.axes.emplace_back(name, std::move(labels));
    }
    s.only.push_back(std::move(f));
  }
}

void parse_eval(const YAML::Node& node, const std::string& at, const std::string& source,
                EvalSchedule& e) {
  if (!node.IsMap())
    fail(at, "eval",
         "expected a mapping (per_epoch, every_tokens, min_evals), got " + describe_yaml(node));
  reject_unknown(node, {"per_epoch", "every_tokens", "min_evals"}, source, "eval.");
  e.where = at;
  if (const auto n = node["per_epoch"]) {
    const std::string w = key_where(node, "per_epoch", source);
    double v = 0;
    try {
      v = n.as<double>();
    } catch (const YAML::Exception&) {
      v = -1;
    }
    if (!(v > 0) || !std::isfinite(v))
      fail(w, "eval.per_epoch", "expected a positive number, got " + describe_yaml(n));
    e.per_epoch = v;
  }
  if (const auto n = node["every_tokens"]) {
    const std::string w = key_where(node, "every_tokens", source);
    const auto c = n.IsScalar() ? TokenCount::parse(n.Scalar()) : std::nullopt;
    if (!c || c->is_all() || c->value() <= 0)
      fail(w, "eval.every_tokens",
           "expected a positive token count (an integer, 50k, 1.5M, 2B), got " + describe_yaml(n));
    e.every_tokens = c->value();
  }
  if (const auto n = node["min_evals"]) {
    const std::string w = key_where(node, "min_evals", source);
    int64_t v = 0;
    try {
      v = n.as<int64_t>();
    } catch (const YAML::Exception&) {
      v = -1;
    }
    if (v <= 0) fail(w, "eval.min_evals", "expected a positive integer, got " + describe_yaml(n));
    e.min_evals = v;
  }
  if (!e.given()) fail(at, "eval", "set at least one of per_epoch, every_tokens, min_evals");
}

}  // namespace

std::string compact_tokens(int64_t n) {
  const double v = static_cast<double>(n);
  if (n >= 100'000'000) return rule::format_number(v / 1e9) + "B";
  if (n >= 1'000'000) return rule::format_number(v / 1e6) + "M";
  if (n >= 1'000) return rule::format_number(v / 1e3) + "k";
  return std::to_string(n);
}

SweepFile parse_sweep(const std::string& yaml_text, const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::ParserException& e) {
    throw ConfigError(path + ":" + std::to_string(e.mark.line + 1) + ": malformed YAML: " + e.msg);
  }
  if (!root.IsMap())
    throw ConfigError(path + ":1: expected a mapping (base:, total_tokens:, axes:, ...), got " +
                      describe_yaml(root));
  reject_unknown(root, {"description", "base", "set", "total_tokens", "axes", "only", "eval"}, path,
                 "");

  SweepFile s;
  s.path = path;
  s.text = yaml_text;
  if (const auto n = root["description"]) {
    if (!n.IsScalar())
      fail(key_where(root, "description", path), "description",
           "expected a string, got " + describe_yaml(n));
    s.description = n.Scalar();
  }

  const auto base = root["base"];
  s.base_where = key_where(root, "base", path);
  if (!base) fail(path, "base", "missing: the run config every point starts from");
  if (!base.IsScalar() || base.Scalar().empty())
    fail(s.base_where, "base", "expected a path to a run config, got " + describe_yaml(base));
  const fs::path base_path(base.Scalar());
  s.base = (base_path.is_absolute() ? base_path : fs::path(path).parent_path() / base_path)
               .lexically_normal()
               .string();

  if (const auto n = root["set"]) {
    if (!n.IsMap())
      fail(key_where(root, "set", path), "set",
           "expected a mapping of run-config keys to values, got " + describe_yaml(n));
    collect_settings(n, "", path, "set: ", s.set);
  }

  const auto axes = root["axes"];
  if (!axes) fail(path, "axes", "missing: at least one axis (e.g. objective.type: [ar, mdm])");
  if (!axes.IsMap() || axes.size() == 0)
    fail(key_where(root, "axes", path), "axes",
         "expected a mapping of axes (key: [values] or name: {preset: {key: value}}), got " +
             describe_yaml(axes));
  parse_axes(axes, path, s);
  if (const auto n = root["only"]) parse_only(n, key_where(root, "only", path), path, s);

  // The training-token budget: one for every point, or an axis of its own (data.total_tokens),
  // which a fit of R* on final losses across budgets needs.
  bool total_axis = false;
  for (const auto& axis : s.axes)
    for (const auto& v : axis.values)
      for (const auto& setting : v.settings)
        if (setting.key == "data.total_tokens") {
          const auto c = TokenCount::parse(setting.value);
          if (!c || c->is_all() || c->value() <= 0)
            fail(setting.where, setting.key,
                 "expected a positive token count (an integer, 50k, 1.5M, 96B), got " +
                     setting.value);
          total_axis = true;
        }
  const auto total = root["total_tokens"];
  s.total_where = key_where(root, "total_tokens", path);
  if (total && total_axis)
    fail(s.total_where, "total_tokens",
         "given twice: here and as the data.total_tokens axis; keep one");
  if (!total && !total_axis)
    fail(path, "total_tokens",
         "missing: the training-token budget of every point (or a data.total_tokens axis)");
  if (total) {
    const auto count = total.IsScalar() ? TokenCount::parse(total.Scalar()) : std::nullopt;
    if (!count || count->is_all() || count->value() <= 0)
      fail(s.total_where, "total_tokens",
           "expected a positive token count (an integer, 50k, 1.5M, 96B), got " +
               describe_yaml(total));
    s.total_tokens = count->value();
  }

  if (const auto n = root["eval"]) parse_eval(n, key_where(root, "eval", path), path, s.eval);

  // The sweep owns these keys: a point that set them would break the comparison.
  auto reserved = [&](const SweepSetting& setting) {
    if (setting.key == "data.total_tokens")
      fail(setting.where, setting.key,
           "is set by total_tokens (" + s.total_where + ") or a data.total_tokens axis");
    if (setting.key == "eval.every" && s.eval.given())
      fail(setting.where, setting.key,
           "is derived per point from the eval section (" + s.eval.where + ")");
  };
  for (const auto& setting : s.set) reserved(setting);
  for (const auto& axis : s.axes)
    for (const auto& v : axis.values)
      for (const auto& setting : v.settings)
        if (setting.key != "data.total_tokens") reserved(setting);
  return s;
}

bool keeps_point(const SweepFile& sweep,
                 const std::vector<std::pair<std::string, std::string>>& labels) {
  if (sweep.only.empty()) return true;
  for (const auto& f : sweep.only) {
    bool all = true;
    for (const auto& entry : f.axes) {
      // Named, not a structured binding: clang 14 (the fuzz build's) cannot capture those.
      const std::string& axis = entry.first;
      const auto& kept = entry.second;
      const auto it = std::find_if(labels.begin(), labels.end(),
                                   [&](const auto& l) { return l.first == axis; });
      all = all && it != labels.end() &&
            std::find(kept.begin(), kept.end(), it->second) != kept.end();
    }
    if (all) return true;
  }
  return false;
}

SweepFile load_sweep(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open sweep file (does it exist?)");
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_sweep(buf.str(), path);
}

}  // namespace crossover
