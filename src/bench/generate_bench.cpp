#include "crossover/bench/generate_bench.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "crossover/checkpoint/loaded_model.h"
#include "crossover/data/data_dir.h"
#include "crossover/data/token_store.h"
#include "crossover/generate/ar.h"
#include "crossover/generate/mdm_schedule.h"

namespace crossover {

namespace fs = std::filesystem;

std::string BenchMdmSetting::label() const {
  std::ostringstream s;
  if (threshold > 0) s << "threshold=" << threshold;
  else s << "steps=" << steps;
  s << " block=" << block_length << " cache=" << to_string(cache);
  if (remasking == Remasking::Random) s << " random";
  return s.str();
}

BenchMdmSetting parse_bench_setting(const std::string& spec) {
  BenchMdmSetting s;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      throw std::invalid_argument("MDM setting '" + spec + "': expected key=value, got '" + item +
                                  "'");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    try {
      if (key == "steps") s.steps = std::stoll(value);
      else if (key == "block") s.block_length = std::stoll(value);
      else if (key == "threshold") s.threshold = std::stod(value);
      else if (key == "cache") s.cache = parse_mdm_cache(value);
      else if (key == "remasking") s.remasking = parse_remasking(value);
      else
        throw std::invalid_argument("unknown key '" + key +
                                    "' (steps, block, threshold, cache, remasking)");
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("MDM setting '" + spec + "': " + e.what());
    } catch (const std::out_of_range&) {
      throw std::invalid_argument("MDM setting '" + spec + "': value out of range");
    }
  }
  return s;
}

std::vector<BenchMdmSetting> default_bench_settings(int64_t len) {
  const int64_t block = std::min<int64_t>(32, len);
  const int64_t blocks = (len + block - 1) / block;
  auto steps = [&](int64_t div) { return std::max(blocks, len / div); };
  std::vector<BenchMdmSetting> out;
  out.push_back({len, block, 0, MdmCache::None});
  for (int64_t div : {4, 16}) {
    out.push_back({steps(div), block, 0, MdmCache::None});
    out.push_back({steps(div), block, 0, MdmCache::Prefix});
  }
  out.push_back({0, block, 0.9, MdmCache::None});
  out.push_back({0, block, 0.9, MdmCache::Prefix});
  return out;
}

namespace {

double load_average() {
  std::ifstream in("/proc/loadavg");
  double one = -1;
  in >> one;
  return one;
}

// The first `len` tokens of validation documents at least that long, cycling to `count` rows.
std::vector<Prompt> validation_prompts(const LoadedModel& m, int64_t len, int64_t count) {
  const std::string path = DataDir{m.config.data.path}.val();
  if (!fs::exists(path))
    throw std::runtime_error("bench generate takes its prompts from " + path +
                             " (the run's data.path), which does not exist");
  const TokenStore store = TokenStore::open(path);
  std::vector<Prompt> docs;
  for (uint64_t d = 0; d < store.num_docs() && static_cast<int64_t>(docs.size()) < count; ++d) {
    if (static_cast<int64_t>(store.doc_length(d)) < len) continue;
    Prompt p(len);
    store.read(store.doc_begin(d), len, p.data());
    docs.push_back(std::move(p));
  }
  if (docs.empty())
    throw std::runtime_error(path + " has no document of " + std::to_string(len) +
                             " tokens or more for --prompt-len");
  std::vector<Prompt> out;
  for (int64_t r = 0; r < count; ++r) out.push_back(docs[r % docs.size()]);
  return out;
}

template <class F>
double fastest_seconds(int repeat, F&& f) {
  double best = std::numeric_limits<double>::infinity();
  for (int i = 0; i < std::max(1, repeat); ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

nlohmann::json row(const std::string& model, const std::string& setting, int64_t batch, int64_t len,
                   double seconds, int64_t calls) {
  return {{"model", model},         {"setting", setting},
          {"batch", batch},         {"len", len},
          {"seconds", seconds},     {"tokens_per_s", batch * len / seconds},
          {"forward_calls", calls}, {"tokens_per_forward", static_cast<double>(len) / calls}};
}

bool same_setting_without_cache(const BenchMdmSetting& a, const BenchMdmSetting& b) {
  return a.cache == MdmCache::None && a.steps == b.steps && a.block_length == b.block_length &&
         a.threshold == b.threshold && a.remasking == b.remasking;
}

}  // namespace

nlohmann::json bench_generate(const GenerateBenchOptions& o,
                              const std::function<void(const nlohmann::json&)>& on_row) {
  LoadOptions lo;
  lo.step = o.step;
  lo.device = parse_optional_choice<DeviceChoice>(o.device, "--device");
  const LoadedModel ar = load_model(o.ar_run, lo);
  const LoadedModel mdm = load_model(o.mdm_run, lo);
  if (ar.objective->decoding() != Decoding::kLeftToRight)
    throw std::invalid_argument(o.ar_run + " is a " + to_string(ar.config.objective.type) +
                                " run, not ar");
  if (mdm.objective->decoding() != Decoding::kUnmasking)
    throw std::invalid_argument(o.mdm_run + " is a " + to_string(mdm.config.objective.type) +
                                " run, not mdm");
  if (o.prompt_len < 1) throw std::invalid_argument("--prompt-len must be at least 1");
  const int64_t max_seq = std::min(ar.model->max_seq_len(), mdm.model->max_seq_len());
  const int64_t len = std::min(o.len, max_seq - o.prompt_len);
  if (len < 1)
    throw std::invalid_argument("--prompt-len " + std::to_string(o.prompt_len) +
                                " leaves no room to generate: the runs' maximum sequence "
                                "length is " +
                                std::to_string(max_seq));
  const int64_t max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  const auto ar_prompts = validation_prompts(ar, o.prompt_len, max_batch);
  const auto mdm_prompts = validation_prompts(mdm, o.prompt_len, max_batch);

  // Every cache=prefix setting is compared with the same setting without the cache.
  std::vector<BenchMdmSetting> settings;
  for (const auto& s : o.mdm.empty() ? default_bench_settings(len) : o.mdm) {
    if (s.cache == MdmCache::Prefix &&
        std::none_of(settings.begin(), settings.end(),
                     [&](const BenchMdmSetting& t) { return same_setting_without_cache(t, s); })) {
      BenchMdmSetting plain = s;
      plain.cache = MdmCache::None;
      settings.push_back(plain);
    }
    settings.push_back(s);
  }
  auto mdm_options = [&](const BenchMdmSetting& s) {
    MdmOptions m;
    m.max_new = len;
    m.steps = s.steps;
    m.block_length = s.block_length;
    m.threshold = s.threshold;
    m.cache = s.cache;
    m.remasking = s.remasking;
    m.sampling = o.sampling;
    m.seed = o.seed;
    check_mdm_options(m);  // before anything is timed
    return m;
  };
  for (const auto& s : settings) mdm_options(s);
  ArOptions ar_options;
  ar_options.max_new = len;
  ar_options.sampling = o.sampling;
  ar_options.seed = o.seed;
  ar_options.stop_at_eos = false;

  nlohmann::json meta = {{"ar_run", o.ar_run},
                         {"mdm_run", o.mdm_run},
                         {"ar_step", ar.step},
                         {"mdm_step", mdm.step},
                         {"device", ar.device.str()},
                         {"dtype", std::string(c10::toString(ar.dtype))},
                         {"threads", at::get_num_threads()},
                         {"len", len},
                         {"len_requested", o.len},
                         {"prompt_len", o.prompt_len},
                         {"max_seq_len", max_seq},
                         {"temperature", o.sampling.temperature},
                         {"load_average_start", load_average()}};
  if (len < o.len)
    meta["note"] = "len capped to " + std::to_string(len) + ": the runs' maximum sequence length " +
                   std::to_string(max_seq) + " minus the prompt's " + std::to_string(o.prompt_len) +
                   " tokens";

  // Warm-up (thread pools, allocator), untimed.
  {
    ArOptions w = ar_options;
    w.max_new = std::min<int64_t>(4, len);
    generate_ar(*ar.model, ar.flats, {ar_prompts[0]}, w);
    MdmOptions m = mdm_options(settings[0]);
    m.max_new = std::min<int64_t>(4, len);
    m.steps = m.block_length = 0;
    generate_mdm(*mdm.model, mdm.flats, {mdm_prompts[0]}, m);
  }

  nlohmann::json results = nlohmann::json::array();
  auto emit = [&](nlohmann::json r) {
    if (on_row) on_row(r);
    results.push_back(std::move(r));
  };
  for (int64_t batch : o.batches) {
    const std::vector<Prompt> ap(ar_prompts.begin(), ar_prompts.begin() + batch);
    const std::vector<Prompt> mp(mdm_prompts.begin(), mdm_prompts.begin() + batch);
    for (bool cache : {true, false}) {
      if (!cache && !o.ar_no_cache) continue;
      ArOptions a = ar_options;
      a.use_cache = cache;
      ArResult r;
      const double s = fastest_seconds(o.repeat,
                                       [&] { r = generate_ar(*ar.model, ar.flats, ap, a); });
      emit(row("ar", cache ? "kv-cache" : "no cache", batch, len, s, r.forward_calls));
    }
    std::vector<std::vector<std::vector<int64_t>>> outputs;  // per setting, this batch
    for (const auto& setting : settings) {
      MdmResult r;
      const MdmOptions m = mdm_options(setting);
      const double s = fastest_seconds(o.repeat,
                                       [&] { r = generate_mdm(*mdm.model, mdm.flats, mp, m); });
      nlohmann::json j = row("mdm", setting.label(), batch, len, s, r.forward_calls);
      outputs.push_back(r.tokens);
      if (setting.cache == MdmCache::Prefix) {
        for (size_t k = 0; k < settings.size(); ++k) {
          if (!same_setting_without_cache(settings[k], setting) || k >= outputs.size()) continue;
          int64_t tokens = 0, sequences = 0;
          for (int64_t b = 0; b < batch; ++b) {
            int64_t diff = 0;
            for (int64_t t = 0; t < len; ++t) diff += r.tokens[b][t] != outputs[k][b][t];
            tokens += diff;
            sequences += diff > 0;
          }
          j["differs_tokens"] = static_cast<double>(tokens) / (batch * len);
          j["differs_sequences"] = static_cast<double>(sequences) / batch;
          break;
        }
      }
      emit(std::move(j));
    }
  }
  meta["load_average_end"] = load_average();
  return {{"meta", meta}, {"results", results}};
}

std::string bench_table_header() {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-5s %-36s %5s %5s %6s %8s %10s %10s  %s", "model", "setting",
                "batch", "len", "fwd", "tok/fwd", "latency s", "tokens/s",
                "differs from no cache (tokens, sequences)");
  return buf;
}

std::string format_bench_row(const nlohmann::json& r) {
  char buf[256];
  std::string differs;
  if (r.contains("differs_tokens")) {
    char d[64];
    std::snprintf(d, sizeof(d), "%.1f%%, %.0f%%", 100 * r["differs_tokens"].get<double>(),
                  100 * r["differs_sequences"].get<double>());
    differs = d;
  }
  std::snprintf(buf, sizeof(buf), "%-5s %-36s %5lld %5lld %6lld %8.2f %10.3f %10.1f  %s",
                r["model"].get<std::string>().c_str(), r["setting"].get<std::string>().c_str(),
                static_cast<long long>(r["batch"].get<int64_t>()),
                static_cast<long long>(r["len"].get<int64_t>()),
                static_cast<long long>(r["forward_calls"].get<int64_t>()),
                r["tokens_per_forward"].get<double>(), r["seconds"].get<double>(),
                r["tokens_per_s"].get<double>(), differs.c_str());
  return buf;
}

}  // namespace crossover
