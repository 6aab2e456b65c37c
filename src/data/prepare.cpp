#include "crossover/data/prepare.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

#include "crossover/data/documents.h"
#include "crossover/data/token_store.h"
#include "crossover/data/tokenizer.h"
#include "crossover/util/fs.h"
#include "crossover/util/progress.h"
#include "crossover/util/random.h"
#include "crossover/util/threads.h"
#include "crossover/version.h"

namespace crossover {

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Seeded selection sampling (Knuth's algorithm S): walks the documents once and marks exactly
// `want` of `total` as validation, each subset equally likely. Replaying it with the same seed
// gives the same decisions, so nothing is stored per document.
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

std::unique_ptr<DocumentSource> open_source(const PrepareOptions& o) {
  if (!o.corpus.empty()) {
    if (o.corpus != "kjv")
      throw std::invalid_argument("--corpus: expected kjv, got " + o.corpus);
    if (!o.inputs.empty())
      throw std::invalid_argument("--corpus and --input are exclusive: give one of them");
    return open_kjv();
  }
  if (o.inputs.empty())
    throw std::invalid_argument("prepare: give --input FILE... or --corpus kjv");
  FileFormat format;
  format.split = o.doc_split;
  format.text_key = o.text_key;
  format.skip_bad_lines = o.skip_bad_lines;
  return open_files(o.inputs, format);
}

// Encodes documents on `threads` threads, each taking the next unencoded document (documents
// vary in length, so a fixed assignment would leave threads idle); results keep document order.
void encode_chunk(const Tokenizer& tok, const std::vector<std::string>& docs,
                  std::vector<std::vector<int32_t>>* out, int threads) {
  out->assign(docs.size(), {});
  std::atomic<size_t> next{0};
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (size_t i; (i = next.fetch_add(1)) < docs.size();) (*out)[i] = tok.encode(docs[i]);
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
  double seconds = 0;
};

// Reads every document of `source` from its start and hands its token ids to `sink` in document
// order. The next chunk is read (decompressed, JSON-decoded) while the current one is encoded.
EncodeStats encode_all(DocumentSource& source, const Tokenizer& tok, int threads,
                       int64_t chunk_bytes, const std::function<void(const std::vector<int32_t>&)>& sink) {
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
    encoder.thread = std::thread([&encoder, &tok, &next, threads] {
      try {
        encode_chunk(tok, next.docs, &next.ids, threads);
      } catch (...) {
        encoder.error = std::current_exception();
      }
    });
  }
  progress.finish();
  stats.file_bytes = source.bytes_read();
  stats.text_bytes = source.text_bytes_read();
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

}  // namespace

nlohmann::json read_data_meta(const std::string& data_dir) {
  const std::string path = (fs::path(data_dir) / "meta.json").string();
  std::ifstream in(path);
  if (!in)
    throw std::runtime_error(path + ": not found; prepare the data first (crossover prepare "
                             "--corpus kjv --out " + data_dir + ")");
  auto meta = nlohmann::json::parse(in, nullptr, false);
  if (meta.is_discarded() || !meta.is_object())
    throw std::runtime_error(path + ": malformed JSON");
  return meta;
}

nlohmann::json prepare_corpus(const PrepareOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  const fs::path out(o.out_dir);
  if (fs::exists(out / "meta.json") && !o.force)
    throw std::runtime_error(o.out_dir + ": already prepared (meta.json exists); pass --force "
                             "to overwrite");
  fs::create_directories(out);
  fs::remove(out / "meta.json");  // the completeness marker goes last
  const int threads = o.threads > 0 ? o.threads : available_cores();
  auto source = open_source(o);

  // 1. Count documents.
  const auto count_start = std::chrono::steady_clock::now();
  std::string doc;
  int64_t n_docs = 0;
  while (source->next(&doc)) ++n_docs;
  if (n_docs < 2) throw std::runtime_error("prepare: the corpus has fewer than 2 documents");
  // 2. Validation size.
  int64_t n_val = o.val_docs >= 0 ? o.val_docs
                                  : static_cast<int64_t>(std::llround(o.val_fraction * n_docs));
  if (o.val_docs < 0 && (o.val_fraction < 0 || o.val_fraction >= 1))
    throw std::invalid_argument("--val-fraction: expected a number in [0, 1)");
  if (n_val >= n_docs)
    throw std::invalid_argument("--val-docs: " + std::to_string(n_val) +
                                " validation documents leave none of the " +
                                std::to_string(n_docs) + " for training");
  spdlog::info("prepare: {} documents, {} for validation (seed {}), counted in {:.1f} s", n_docs,
               n_val, o.seed, seconds_since(count_start));

  // 3. Tokenizer.
  const std::string model_path = (out / "tokenizer.model").string();
  if (!o.tokenizer.empty()) {
    if (fs::absolute(o.tokenizer) != fs::absolute(model_path))
      fs::copy_file(o.tokenizer, model_path, fs::copy_options::overwrite_existing);
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
  if (stats.docs != n_docs)
    throw std::runtime_error("prepare: the corpus changed while it was read: " +
                             std::to_string(n_docs) + " documents when counted, " +
                             std::to_string(stats.docs) + " when encoded");
  train_w.finish();
  val_w.finish();

  const auto& sp = tok.special();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::json meta = {
      {"format_version", kTokenStoreVersion},
      {"crossover_version", kVersion},
      {"vocab_size", tok.vocab_size()},
      {"model_vocab_size", tok.vocab_size() + 1},
      {"special_ids",
       {{"pad", sp.pad}, {"unk", sp.unk}, {"bos", sp.bos}, {"eos", sp.eos}, {"mask", sp.mask}}},
      {"tokenizer", {{"file", "tokenizer.model"}, {"sha256", sha256_file(model_path)},
                     {"model_type", o.tokenizer.empty() ? o.model_type : "given"},
                     {"source", o.tokenizer.empty() ? "trained" : o.tokenizer}}},
      {"train", {{"file", "train.bin"}, {"documents", train_w.num_docs()},
                 {"tokens", train_w.num_tokens()}, {"token_bytes", train_w.token_bytes()}}},
      {"val", {{"file", "val.bin"}, {"documents", val_w.num_docs()},
               {"tokens", val_w.num_tokens()}, {"token_bytes", val_w.token_bytes()}}},
      {"sources", source->sources()},
      {"corpus", o.corpus.empty() ? "files" : o.corpus},
      {"doc_split", o.corpus == "kjv" ? "chapter" : o.doc_split},
      {"seed", o.seed},
      {"input_bytes", source->bytes_read()},
      {"skipped_lines", source->skipped_lines()},
      {"seconds", seconds}};
  if (o.corpus.empty()) meta["text_key"] = o.text_key;
  atomic_write_file((out / "meta.json").string(), meta.dump(2) + "\n");
  spdlog::info(
      "prepare: {} train documents / {} tokens, {} validation documents / {} tokens, vocabulary "
      "{} (+[MASK] = {}), {:.1f} s",
      train_w.num_docs(), train_w.num_tokens(), val_w.num_docs(), val_w.num_tokens(),
      tok.vocab_size(), sp.mask, seconds);
  return meta;
}

}  // namespace crossover
