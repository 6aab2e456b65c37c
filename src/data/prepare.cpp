#include "crossover/data/prepare.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <thread>

#include "crossover/data/data_dir.h"
#include "crossover/data/documents.h"
#include "crossover/data/token_store.h"
#include "crossover/data/tokenizer.h"
#include "crossover/data/tokenizer_bpe.h"
#include "crossover/util/fs.h"
#include "crossover/util/progress.h"
#include "crossover/util/random.h"
#include "crossover/util/threads.h"
#include "crossover/version.h"
#include "megatron_reader.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

constexpr const char* kShardFormat = "crossover-prepare-shard";
constexpr const char* kShardStore = "docs.bin";

// Seeded selection sampling (Knuth's algorithm S): walks the documents once and marks exactly
// `want` of `total` as validation, each subset equally likely. Replaying it with the same seed
// gives the same decisions, so nothing is stored per document, and a merge of shards replays it
// over the global document index.
class ValidationSplit {
 public:
  ValidationSplit(int64_t total, int64_t want, uint64_t seed)
      : remaining_(total), needed_(want), rng_(hash_combine(seed, 0x76616c2d73706c74ull)) {}
  bool next_is_validation() {
    const bool pick = static_cast<int64_t>(rng_.below(static_cast<uint64_t>(remaining_))) < needed_;
    --remaining_;
    if (pick) --needed_;
    return pick;
  }

 private:
  int64_t remaining_, needed_;
  SplitMix64 rng_;
};

// The number of validation documents among n_docs (prepare and merge decide it alike).
int64_t validation_count(int64_t n_docs, int64_t val_docs, double val_fraction) {
  if (n_docs < 2) throw std::runtime_error("prepare: the corpus has fewer than 2 documents");
  if (val_docs < 0 && (val_fraction < 0 || val_fraction >= 1))
    throw std::invalid_argument("--val-fraction: expected a number in [0, 1)");
  const int64_t n_val = val_docs >= 0 ? val_docs
                                      : static_cast<int64_t>(std::llround(val_fraction * n_docs));
  if (n_val >= n_docs)
    throw std::invalid_argument("--val-docs: " + std::to_string(n_val) +
                                " validation documents leave none of the " +
                                std::to_string(n_docs) + " for training");
  return n_val;
}

FileFormat file_format(const PrepareOptions& o) {
  FileFormat f;
  f.split = o.doc_split;
  f.text_key = o.text_key;
  f.skip_bad_lines = o.skip_bad_lines;
  return f;
}

std::unique_ptr<DocumentSource> open_source(const PrepareOptions& o) {
  if (!o.corpus.empty()) {
    if (o.corpus != "kjv") throw std::invalid_argument("--corpus: expected kjv, got " + o.corpus);
    if (!o.inputs.empty())
      throw std::invalid_argument("--corpus and --input are exclusive: give one of them");
    return open_kjv();
  }
  if (o.inputs.empty())
    throw std::invalid_argument("prepare: give --input FILE... or --corpus kjv");
  return open_files(o.inputs, file_format(o));
}

// Encodes documents on `threads` threads, each taking the next unencoded document (documents
// vary in length, so a fixed assignment would leave threads idle); results keep document order.
// Also adds to `unassigned` the code points PCRE2 calls unassigned (pretrained tokenizers).
void encode_chunk(const Tokenizer& tok, const std::vector<std::string>& docs,
                  std::vector<std::vector<int32_t>>* out, int threads,
                  std::atomic<int64_t>* unassigned) {
  out->assign(docs.size(), {});
  std::atomic<size_t> next{0};
  const bool count = tok.kind() != "sentencepiece";
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        int64_t n = 0;
        for (size_t i; (i = next.fetch_add(1)) < docs.size();) {
          (*out)[i] = tok.encode(docs[i]);
          if (count) n += bpe::count_unassigned_codepoints(docs[i]);
        }
        *unassigned += n;
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

struct EncodeStats {
  int64_t docs = 0, tokens = 0;
  int64_t file_bytes = 0, text_bytes = 0;  // of this pass: as stored, and decompressed
  int64_t unassigned = 0;                  // code points unassigned in PCRE2's tables
  double seconds = 0;
};

// The Unicode-version gap of pretrained tokenizers: PCRE2's tables (Debian 12: Unicode 14) are
// older than those of `tokenizers`/tiktoken, so code points assigned since may be classed
// otherwise by the pre-tokenizer regex.
void warn_unassigned(int64_t n, const Tokenizer& tok) {
  if (n <= 0 || tok.kind() == "sentencepiece") return;
  spdlog::warn("prepare: the text has {} code point(s) that PCRE2's Unicode {} tables call "
               "unassigned (meta.json: tokenizer.unassigned_codepoints); the {} reference "
               "library knows newer Unicode, so ids around them may differ from its ids",
               n, bpe::pcre2_unicode_version(),
               tok.kind() == "tiktoken" ? "tiktoken" : "tokenizers");
}

// Reads every document of `source` from its start and hands its token ids to `sink` in document
// order. The next chunk is read (decompressed, JSON-decoded) while the current one is encoded.
EncodeStats encode_all(DocumentSource& source, const Tokenizer& tok, int threads,
                       int64_t chunk_bytes,
                       const std::function<void(const std::vector<int32_t>&)>& sink) {
  const auto start = std::chrono::steady_clock::now();
  source.rewind();
  struct Chunk {
    std::vector<std::string> docs;
    std::vector<std::vector<int32_t>> ids;
    int64_t bytes_after = 0;  // source position after its last document
  };
  auto read_chunk = [&](Chunk& c) {
    c.docs.clear();
    int64_t bytes = 0;
    std::string doc;
    while (bytes < chunk_bytes && source.next(&doc)) {
      bytes += static_cast<int64_t>(doc.size());
      c.docs.push_back(std::move(doc));
    }
    c.bytes_after = source.bytes_read();
    return !c.docs.empty();
  };
  Chunk chunks[2];  // declared before the encoder, so it outlives the encoder's thread
  // Joins the encoder however this function is left (a malformed line throws while it runs).
  struct Background {
    std::thread thread;
    std::exception_ptr error;
    ~Background() {
      if (thread.joinable()) thread.join();
    }
  } encoder;
  EncodeStats stats;
  std::atomic<int64_t> unassigned{0};
  Progress progress("prepare: encoding", source.total_bytes());
  for (int64_t k = 0;; ++k) {
    Chunk& next = chunks[k % 2];
    const bool more = read_chunk(next);
    if (encoder.thread.joinable()) {
      encoder.thread.join();
      if (encoder.error) std::rethrow_exception(encoder.error);
      const Chunk& done = chunks[(k + 1) % 2];
      for (const auto& ids : done.ids) {
        sink(ids);
        ++stats.docs;
        stats.tokens += static_cast<int64_t>(ids.size());
      }
      progress.update(done.bytes_after, stats.tokens);
    }
    if (!more) break;
    encoder.thread = std::thread([&encoder, &tok, &next, threads, &unassigned] {
      try {
        encode_chunk(tok, next.docs, &next.ids, threads, &unassigned);
      } catch (...) {
        encoder.error = std::current_exception();
      }
    });
  }
  progress.finish();
  stats.file_bytes = source.bytes_read();
  stats.text_bytes = source.text_bytes_read();
  stats.unassigned = unassigned;
  stats.seconds = seconds_since(start);
  return stats;
}

void log_throughput(const EncodeStats& s, int threads) {
  const double t = std::max(s.seconds, 1e-9);
  std::string text;
  if (s.text_bytes != s.file_bytes)
    text = fmt::format(", {:.1f} MB/s decompressed ({:.1f} MB)", s.text_bytes / 1e6 / t,
                       s.text_bytes / 1e6);
  spdlog::info("prepare: encoded {} documents into {} tokens in {:.1f} s on {} threads: {} "
               "tokens/s, {:.1f} MB/s of input ({:.1f} MB){}",
               s.docs, s.tokens, s.seconds, threads, human_count(s.tokens / t),
               s.file_bytes / 1e6 / t, s.file_bytes / 1e6, text);
}

void report_skipped(const DocumentSource& source) {
  if (source.skipped_lines() == 0) return;
  spdlog::warn("prepare: skipped {} malformed line(s) (--skip-bad-lines); the first:",
               source.skipped_lines());
  for (const auto& e : source.skipped_examples()) spdlog::warn("  {}", e);
}

// What meta.json says besides the stores: one function for prepare and merge, so that their
// meta.json files are byte-identical.
struct CorpusDescription {
  std::vector<std::string> sources;
  std::string corpus;     // "files" or "kjv"
  std::string doc_split;  // "chapter" for kjv
  std::string text_key;   // files only
  std::string tokenizer_model_type, tokenizer_source;
  int64_t input_bytes = 0, skipped_lines = 0;
  int64_t unassigned_codepoints = -1;  // pretrained tokenizers on text (else not recorded)
  uint64_t seed = 0;
};

nlohmann::json data_meta(const Tokenizer& tok, const std::string& model_path,
                         const TokenStoreWriter& train, const TokenStoreWriter& val,
                         const CorpusDescription& c) {
  const auto& sp = tok.special();
  nlohmann::json meta = {
      {"format_version", kTokenStoreVersion},
      {"crossover_version", kVersion},
      {"vocab_size", tok.vocab_size()},
      {"model_vocab_size", tok.vocab_size() + 1},
      {"special_ids",
       {{"pad", sp.pad}, {"unk", sp.unk}, {"bos", sp.bos}, {"eos", sp.eos}, {"mask", sp.mask}}},
      {"tokenizer",
       {{"file", fs::path(model_path).filename().string()},
        {"sha256", sha256_file(model_path)},
        {"kind", tok.kind()},
        {"model_type", c.tokenizer_model_type},
        {"source", c.tokenizer_source},
        {"eos_token", tok.piece(sp.eos)},
        {"mask_appended", tok.mask_appended()}}},
      {"train",
       {{"file", "train.bin"},
        {"documents", train.num_docs()},
        {"tokens", train.num_tokens()},
        {"token_bytes", train.token_bytes()}}},
      {"val",
       {{"file", "val.bin"},
        {"documents", val.num_docs()},
        {"tokens", val.num_tokens()},
        {"token_bytes", val.token_bytes()}}},
      {"sources", c.sources},
      {"corpus", c.corpus},
      {"doc_split", c.doc_split},
      {"seed", c.seed},
      {"input_bytes", c.input_bytes},
      {"skipped_lines", c.skipped_lines}};
  if (c.corpus == "files") meta["text_key"] = c.text_key;
  if (tok.kind() != "sentencepiece") {
    meta["tokenizer"]["split_special_tokens"] = tok.options().split_special_tokens;
    if (!tok.options().empty()) meta["tokenizer"]["options"] = options_json(tok.options());
    if (c.unassigned_codepoints >= 0) {
      meta["tokenizer"]["unassigned_codepoints"] = c.unassigned_codepoints;
      meta["tokenizer"]["pcre2_unicode"] = bpe::pcre2_unicode_version();
    }
  }
  return meta;
}

void log_stores(const TokenStoreWriter& train, const TokenStoreWriter& val, const Tokenizer& tok,
                double seconds) {
  spdlog::info(
      "prepare: {} train documents / {} tokens, {} validation documents / {} tokens, vocabulary "
      "{} (+[MASK] = {}), {:.1f} s",
      train.num_docs(), train.num_tokens(), val.num_docs(), val.num_tokens(), tok.vocab_size(),
      tok.special().mask, seconds);
}

// Refuses to overwrite a finished output unless forced, then removes its completeness marker
// (written last) so a crash leaves no finished-looking directory.
void claim_output(const fs::path& out, const std::string& marker, bool force) {
  if (fs::exists(out / marker) && !force)
    throw std::runtime_error(out.string() + ": already prepared (" + marker +
                             " exists); pass --force to overwrite");
  fs::create_directories(out);
  fs::remove(out / marker);
}

nlohmann::json prepare_shard(const PrepareOptions& o, int threads) {
  const auto start = std::chrono::steady_clock::now();
  if (o.inputs.empty()) throw std::invalid_argument("--shard: needs --input files");
  if (o.tokenizer.empty())
    throw std::invalid_argument(
        "--shard: needs --tokenizer MODEL, the same for every shard (train it once with "
        "`crossover prepare --input ... --out DIR --tokenizer-only`)");
  if (o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw std::invalid_argument("--shard: expected i/N with 0 <= i < N, got " +
                                std::to_string(o.shard_index) + "/" +
                                std::to_string(o.shard_count));
  const fs::path out(o.out_dir);
  claim_output(out, "shard.json", o.force);

  nlohmann::json inputs = nlohmann::json::array();
  std::vector<int64_t> sizes;
  for (const auto& p : o.inputs) {
    std::error_code ec;
    const auto size = fs::file_size(p, ec);
    if (ec) throw std::runtime_error(p + ": cannot read input file: " + ec.message());
    sizes.push_back(static_cast<int64_t>(size));
    inputs.push_back({{"path", p}, {"bytes", size}});
  }
  const auto [first, last] = shard_file_range(sizes, o.shard_index, o.shard_count);
  const std::vector<std::string> mine(o.inputs.begin() + first, o.inputs.begin() + last);
  if (mine.empty())
    spdlog::warn("prepare: shard {}/{}: no input files (a shard takes whole files and the "
                 "others hold all the bytes); it writes an empty store",
                 o.shard_index, o.shard_count);
  else
    spdlog::info("prepare: shard {}/{}: input files {} to {} of {} ({} .. {})", o.shard_index,
                 o.shard_count, first + 1, last, o.inputs.size(), mine.front(), mine.back());

  const std::string model_path = Tokenizer::install(o.tokenizer, out.string(), o.tokenizer_options);
  const Tokenizer tok = Tokenizer::load(model_path);
  TokenStoreWriter store((out / kShardStore).string(), tok.vocab_size());
  EncodeStats stats;
  int64_t skipped = 0;
  if (!mine.empty()) {
    auto source = open_files(mine, file_format(o));
    stats = encode_all(*source, tok, threads, o.chunk_bytes,
                       [&](const std::vector<int32_t>& ids) { store.add_document(ids); });
    log_throughput(stats, threads);
    report_skipped(*source);
    warn_unassigned(stats.unassigned, tok);
    skipped = source->skipped_lines();
  }
  store.finish();
  nlohmann::json shard = {{"format", kShardFormat},
                          {"shard", o.shard_index},
                          {"shards", o.shard_count},
                          {"inputs", inputs},
                          {"sources", mine},
                          {"doc_split", o.doc_split},
                          {"text_key", o.text_key},
                          {"tokenizer",
                           {{"file", fs::path(model_path).filename().string()},
                            {"sha256", sha256_file(model_path)},
                            {"source", o.tokenizer},
                            {"options", options_json(o.tokenizer_options)},
                            {"unassigned_codepoints", stats.unassigned}}},
                          {"store", kShardStore},
                          {"documents", store.num_docs()},
                          {"tokens", store.num_tokens()},
                          {"input_bytes", stats.file_bytes},
                          {"skipped_lines", skipped},
                          {"crossover_version", kVersion}};
  atomic_write_file((out / "shard.json").string(), shard.dump(2) + "\n");
  spdlog::info("prepare: shard {}/{}: {} documents, {} tokens, {:.1f} s; join the shards with "
               "`crossover prepare merge`",
               o.shard_index, o.shard_count, store.num_docs(), store.num_tokens(),
               seconds_since(start));
  return shard;
}

// `--from-megatron`: the documents of Megatron indexed datasets, already token ids, copied into
// the stores with the validation split of a text corpus (one pass: their count is in the .idx).
nlohmann::json prepare_megatron(const PrepareOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  if (!o.inputs.empty() || !o.corpus.empty())
    throw std::invalid_argument("--from-megatron: give it instead of --input or --corpus");
  if (o.tokenizer.empty())
    throw std::invalid_argument(
        "--from-megatron: needs --tokenizer FILE, the tokenizer the corpus was encoded with");
  if (o.tokenizer_only || o.shard_count > 0)
    throw std::invalid_argument("--from-megatron: no --tokenizer-only or --shard (nothing to "
                                "encode: the conversion is one pass over the files)");
  if (o.megatron_eod != "strip" && o.megatron_eod != "keep")
    throw std::invalid_argument("--megatron-eod: expected strip or keep, got " + o.megatron_eod);
  std::vector<MegatronDataset> sets;  // every file checked before anything is written
  int64_t n_docs = 0, input_bytes = 0;
  for (const auto& prefix : o.megatron_prefixes) {
    sets.emplace_back(prefix);
    n_docs += static_cast<int64_t>(sets.back().num_documents());
    input_bytes += sets.back().file_bytes();
    spdlog::info("prepare: {}: {} documents, {} sequences, {} {} tokens", prefix,
                 sets.back().num_documents(), sets.back().num_sequences(), sets.back().num_tokens(),
                 sets.back().dtype_name());
  }
  const int64_t n_val = validation_count(n_docs, o.val_docs, o.val_fraction);
  const fs::path out(o.out_dir);
  claim_output(out, "meta.json", o.force);
  const std::string model_path = Tokenizer::install(o.tokenizer, out.string(), o.tokenizer_options);
  const Tokenizer tok = Tokenizer::load(model_path);
  const int32_t eos = tok.special().eos;
  const bool strip = o.megatron_eod == "strip";

  ValidationSplit split(n_docs, n_val, o.seed);
  TokenStoreWriter train_w((out / "train.bin").string(), tok.vocab_size());
  TokenStoreWriter val_w((out / "val.bin").string(), tok.vocab_size());
  std::vector<int32_t> ids;
  int64_t ending_in_eos = 0, done_bytes = 0, tokens = 0;
  Progress progress("prepare: converting", input_bytes);
  for (const auto& set : sets) {
    for (uint64_t d = 0; d < set.num_documents(); ++d) {
      set.document(d, static_cast<uint64_t>(tok.vocab_size()), &ids);
      if (!ids.empty() && ids.back() == eos) {
        ++ending_in_eos;
        if (strip) ids.pop_back();
      }
      (split.next_is_validation() ? val_w : train_w).add_document(ids);
      tokens += static_cast<int64_t>(ids.size());
      if (d % 4096 == 0) progress.update(done_bytes, tokens);
    }
    done_bytes += set.file_bytes();
  }
  progress.finish();
  train_w.finish();
  val_w.finish();
  spdlog::info("prepare: {} of {} documents ended in eos (id {}){}", ending_in_eos, n_docs, eos,
               ending_in_eos == 0 ? ""
               : strip            ? ": stripped (the sampler appends eos after every document)"
                                  : ": kept (--megatron-eod keep)");
  if (ending_in_eos == 0)
    spdlog::warn("prepare: no document ends in eos ({}): written without --append-eod, or with "
                 "another tokenizer than {}?",
                 tok.piece(eos), o.tokenizer);

  CorpusDescription c;
  c.sources = o.megatron_prefixes;
  c.corpus = "megatron";
  c.doc_split = "megatron-document";
  c.tokenizer_model_type = "given";
  c.tokenizer_source = o.tokenizer;
  c.input_bytes = input_bytes;
  c.seed = o.seed;
  nlohmann::json meta = data_meta(tok, model_path, train_w, val_w, c);
  meta["megatron"] = {{"eod", o.megatron_eod}, {"documents_ending_in_eos", ending_in_eos}};
  atomic_write_file((out / "meta.json").string(), meta.dump(2) + "\n");
  log_stores(train_w, val_w, tok, seconds_since(start));
  return meta;
}

}  // namespace

std::pair<size_t, size_t> shard_file_range(const std::vector<int64_t>& file_bytes, int index,
                                           int count) {
  const size_t n = file_bytes.size();
  unsigned __int128 total = 0;
  for (int64_t b : file_bytes) total += static_cast<uint64_t>(b);
  // The shard holding file j: the one whose share of the bytes contains the file's middle
  // (by position when every file is empty). Non-decreasing in j, so shards are contiguous.
  auto shard_of = [&](size_t j, unsigned __int128 before) -> int64_t {
    if (total == 0) return static_cast<int64_t>(j * count / n);
    const unsigned __int128 middle2 = 2 * before + static_cast<uint64_t>(file_bytes[j]);
    return std::min<int64_t>(count - 1, static_cast<int64_t>(middle2 * count / (2 * total)));
  };
  size_t first = n, last = n;
  unsigned __int128 before = 0;
  for (size_t j = 0; j < n; ++j) {
    const int64_t s = shard_of(j, before);
    if (s == index && first == n) first = j;
    if (s > index) {
      last = j;
      break;
    }
    before += static_cast<uint64_t>(file_bytes[j]);
  }
  if (first == n || first > last) first = last;  // an empty shard
  return {first, last};
}

nlohmann::json prepare_corpus(const PrepareOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const int threads = o.threads > 0 ? o.threads : available_cores();
  if (!o.megatron_prefixes.empty()) return prepare_megatron(o);
  if (o.shard_count > 0 || o.shard_index >= 0) {
    if (o.tokenizer_only) throw std::invalid_argument("--shard and --tokenizer-only are exclusive");
    return prepare_shard(o, threads);
  }
  if (o.tokenizer_only && !o.tokenizer.empty())
    throw std::invalid_argument("--tokenizer-only trains a tokenizer; --tokenizer gives one");
  if (o.tokenizer.empty() && !o.tokenizer_options.empty())
    throw std::invalid_argument(
        "--eos-token, --mask-token and --split-special-tokens need --tokenizer FILE (a "
        "tokenizer.json or tiktoken file)");
  const fs::path out(o.out_dir);
  claim_output(out, o.tokenizer_only ? "tokenizer.model" : "meta.json", o.force);
  auto source = open_source(o);

  // 1. Count documents.
  const auto count_start = std::chrono::steady_clock::now();
  std::string doc;
  int64_t n_docs = 0;
  while (source->next(&doc)) ++n_docs;
  // 2. Validation size.
  const int64_t n_val = validation_count(n_docs, o.val_docs, o.val_fraction);
  spdlog::info("prepare: {} documents, {} for validation (seed {}), counted in {:.1f} s", n_docs,
               n_val, o.seed, seconds_since(count_start));

  // 3. Tokenizer.
  std::string model_path = (out / "tokenizer.model").string();
  if (!o.tokenizer.empty()) {
    model_path = Tokenizer::install(o.tokenizer, out.string(), o.tokenizer_options);
    spdlog::info("prepare: using tokenizer {}", o.tokenizer);
  } else {
    spdlog::info("prepare: training a {} tokenizer, vocabulary {}", o.model_type, o.vocab_size);
    source->rewind();
    ValidationSplit split(n_docs, n_val, o.seed);
    std::vector<std::string> lines;  // sentences of the current training document
    size_t line_pos = 0;
    Tokenizer::TrainOptions t;
    t.model_prefix = (out / "tokenizer").string();
    t.vocab_size = o.vocab_size;
    t.model_type = o.model_type;
    t.threads = threads;
    t.seed = o.seed;
    Tokenizer::train(t, [&](std::string* sentence) {
      while (line_pos >= lines.size()) {
        std::string d;
        if (!source->next(&d)) return false;
        if (split.next_is_validation()) continue;  // never train on validation text
        lines.clear();
        line_pos = 0;
        size_t b = 0;
        for (size_t e; (e = d.find('\n', b)) != std::string::npos; b = e + 1)
          if (e > b) lines.push_back(d.substr(b, e - b));
        if (b < d.size()) lines.push_back(d.substr(b));
      }
      *sentence = std::move(lines[line_pos++]);
      return true;
    });
  }
  const Tokenizer tok = Tokenizer::load(model_path);
  if (o.tokenizer_only) {
    spdlog::info("prepare: wrote {} (vocabulary {}, {:.1f} s); give it to every shard with "
                 "--tokenizer",
                 model_path, tok.vocab_size(), seconds_since(start));
    return {{"tokenizer", model_path},
            {"sha256", sha256_file(model_path)},
            {"vocab_size", tok.vocab_size()}};
  }

  // 4. Encode and write.
  ValidationSplit split(n_docs, n_val, o.seed);
  TokenStoreWriter train_w((out / "train.bin").string(), tok.vocab_size());
  TokenStoreWriter val_w((out / "val.bin").string(), tok.vocab_size());
  const EncodeStats stats =
      encode_all(*source, tok, threads, o.chunk_bytes, [&](const std::vector<int32_t>& ids) {
        (split.next_is_validation() ? val_w : train_w).add_document(ids);
      });
  log_throughput(stats, threads);
  report_skipped(*source);
  warn_unassigned(stats.unassigned, tok);
  if (stats.docs != n_docs)
    throw std::runtime_error(
        "prepare: the corpus changed while it was read: " + std::to_string(n_docs) +
        " documents when counted, " + std::to_string(stats.docs) + " when encoded");
  train_w.finish();
  val_w.finish();

  CorpusDescription c;
  c.sources = source->sources();
  c.corpus = o.corpus.empty() ? "files" : o.corpus;
  c.doc_split = o.corpus == "kjv" ? "chapter" : o.doc_split;
  c.text_key = o.text_key;
  c.tokenizer_model_type = o.tokenizer.empty() ? o.model_type : "given";
  c.tokenizer_source = o.tokenizer.empty() ? "trained" : o.tokenizer;
  c.input_bytes = stats.file_bytes;
  c.skipped_lines = source->skipped_lines();
  c.unassigned_codepoints = stats.unassigned;
  c.seed = o.seed;
  const nlohmann::json meta = data_meta(tok, model_path, train_w, val_w, c);
  atomic_write_file((out / "meta.json").string(), meta.dump(2) + "\n");
  log_stores(train_w, val_w, tok, seconds_since(start));
  return meta;
}

nlohmann::json merge_shards(const MergeOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  if (o.shard_dirs.empty()) throw std::invalid_argument("prepare merge: no shard directories");
  // Read and check every shard description; order them by index.
  std::vector<nlohmann::json> shards;
  std::vector<std::string> dirs;
  for (const auto& d : o.shard_dirs) {
    const std::string path = (fs::path(d) / "shard.json").string();
    std::ifstream in(path);
    if (!in)
      throw std::runtime_error(path + ": not found; is " + d +
                               " a finished shard (crossover "
                               "prepare --shard i/N --out " +
                               d + ")?");
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.is_object() || j.value("format", "") != kShardFormat)
      throw std::runtime_error(path + ": not a crossover shard description");
    shards.push_back(std::move(j));
    dirs.push_back(d);
  }
  const int64_t count = shards[0].at("shards").get<int64_t>();
  if (static_cast<int64_t>(shards.size()) != count)
    throw std::runtime_error("prepare merge: " + dirs[0] + " is a shard of " +
                             std::to_string(count) + ", but " + std::to_string(shards.size()) +
                             " shard directories were given; give all of them, once each");
  std::vector<size_t> order(count, SIZE_MAX);
  for (size_t k = 0; k < shards.size(); ++k) {
    const auto& s = shards[k];
    for (const char* key : {"shards", "inputs", "doc_split", "text_key"})
      if (s.at(key) != shards[0].at(key))
        throw std::runtime_error("prepare merge: " + dirs[k] + " and " + dirs[0] +
                                 " are shards of different preparations: their \"" + key +
                                 "\" differ (every shard needs the same --input list and options)");
    if (s.at("tokenizer").value("options", nlohmann::json()) !=
        shards[0].at("tokenizer").value("options", nlohmann::json()))
      throw std::runtime_error("prepare merge: " + dirs[k] + " and " + dirs[0] +
                               " were encoded with different tokenizer options (--eos-token, "
                               "--mask-token, --split-special-tokens)");
    if (s.at("tokenizer").at("sha256") != shards[0].at("tokenizer").at("sha256"))
      throw std::runtime_error("prepare merge: " + dirs[k] +
                               " was encoded with another tokenizer "
                               "than " +
                               dirs[0] + " (tokenizer.model SHA-256 differs)");
    const int64_t i = s.at("shard").get<int64_t>();
    if (i < 0 || i >= count)
      throw std::runtime_error(dirs[k] + "/shard.json: shard " + std::to_string(i) + " of " +
                               std::to_string(count) + " is out of range");
    if (order[i] != SIZE_MAX)
      throw std::runtime_error("prepare merge: shard " + std::to_string(i) + " given twice (" +
                               dirs[order[i]] + " and " + dirs[k] + ")");
    order[i] = k;
  }
  const nlohmann::json& first = shards[order[0]];
  const std::string first_dir = dirs[order[0]];
  const std::string tok_src = DataDir{first_dir}.tokenizer();
  if (sha256_file(tok_src) != first.at("tokenizer").at("sha256").get<std::string>())
    throw std::runtime_error(tok_src + ": checksum differs from its shard.json (modified?)");

  const fs::path out(o.out_dir);
  claim_output(out, "meta.json", o.force);
  const std::string model_path = Tokenizer::install(tok_src, out.string(),
                                                    Tokenizer::read_options(first_dir));
  const Tokenizer tok = Tokenizer::load(model_path);

  // Open every shard store; check it against its description and the tokenizer.
  std::vector<TokenStore> stores;
  int64_t n_docs = 0, input_bytes = 0, skipped = 0, unassigned = 0;
  std::vector<std::string> sources;
  for (int64_t i = 0; i < count; ++i) {
    const auto& s = shards[order[i]];
    const std::string path = (fs::path(dirs[order[i]]) / kShardStore).string();
    stores.push_back(TokenStore::open(path));
    const TokenStore& st = stores.back();
    if (st.vocab_size() != static_cast<uint64_t>(tok.vocab_size()) ||
        st.num_docs() != s.at("documents").get<uint64_t>() ||
        st.num_tokens() != s.at("tokens").get<uint64_t>())
      throw std::runtime_error(path + ": holds " + std::to_string(st.num_docs()) + " documents, " +
                               std::to_string(st.num_tokens()) + " tokens, vocabulary " +
                               std::to_string(st.vocab_size()) + "; its shard.json says " +
                               s.at("documents").dump() + ", " + s.at("tokens").dump() + ", " +
                               std::to_string(tok.vocab_size()));
    st.verify_ids();
    n_docs += static_cast<int64_t>(st.num_docs());
    input_bytes += s.at("input_bytes").get<int64_t>();
    skipped += s.at("skipped_lines").get<int64_t>();
    unassigned += s.at("tokenizer").value("unassigned_codepoints", int64_t{0});
    for (const auto& src : s.at("sources")) sources.push_back(src.get<std::string>());
  }
  std::vector<std::string> inputs;
  for (const auto& in : first.at("inputs")) inputs.push_back(in.at("path").get<std::string>());
  if (sources != inputs)
    throw std::runtime_error("prepare merge: the shards' files do not add up to their input list");

  // The split over the global document index, as a one-process prepare makes it; runs of
  // documents bound for the same store are copied in one piece.
  const int64_t n_val = validation_count(n_docs, o.val_docs, o.val_fraction);
  spdlog::info("prepare merge: {} shards, {} documents, {} for validation (seed {})", count, n_docs,
               n_val, o.seed);
  ValidationSplit split(n_docs, n_val, o.seed);
  TokenStoreWriter train_w((out / "train.bin").string(), tok.vocab_size());
  TokenStoreWriter val_w((out / "val.bin").string(), tok.vocab_size());
  for (const TokenStore& st : stores) {
    uint64_t run_start = 0;
    bool run_val = false;
    for (uint64_t d = 0; d < st.num_docs(); ++d) {
      const bool v = split.next_is_validation();
      if (d > run_start && v != run_val) {
        (run_val ? val_w : train_w).add_documents(st, run_start, d);
        run_start = d;
      }
      run_val = v;
    }
    if (st.num_docs() > run_start)
      (run_val ? val_w : train_w).add_documents(st, run_start, st.num_docs());
  }
  train_w.finish();
  val_w.finish();

  CorpusDescription c;
  c.sources = sources;
  c.corpus = "files";
  c.doc_split = first.at("doc_split").get<std::string>();
  c.text_key = first.at("text_key").get<std::string>();
  c.tokenizer_model_type = "given";
  c.tokenizer_source = first.at("tokenizer").at("source").get<std::string>();
  c.input_bytes = input_bytes;
  c.skipped_lines = skipped;
  c.unassigned_codepoints = unassigned;
  c.seed = o.seed;
  const nlohmann::json meta = data_meta(tok, model_path, train_w, val_w, c);
  atomic_write_file((out / "meta.json").string(), meta.dump(2) + "\n");
  warn_unassigned(unassigned, tok);
  if (skipped > 0) spdlog::warn("prepare merge: the shards skipped {} malformed line(s)", skipped);
  log_stores(train_w, val_w, tok, seconds_since(start));
  return meta;
}

}  // namespace crossover
