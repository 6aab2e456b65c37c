#include "crossover/data/prepare.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>
#include <fstream>
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

// Encodes a chunk of documents on `threads` threads; results keep document order.
std::vector<std::vector<int32_t>> encode_chunk(const Tokenizer& tok,
                                               const std::vector<std::string>& docs,
                                               int threads) {
  std::vector<std::vector<int32_t>> out(docs.size());
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(threads);
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      try {
        for (size_t i = t; i < docs.size(); i += threads) out[i] = tok.encode(docs[i]);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
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
  spdlog::info("prepare: {} documents, {} for validation (seed {})", n_docs, n_val, o.seed);

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
  source->rewind();
  ValidationSplit split(n_docs, n_val, o.seed);
  TokenStoreWriter train_w((out / "train.bin").string(), tok.vocab_size());
  TokenStoreWriter val_w((out / "val.bin").string(), tok.vocab_size());
  Progress progress("prepare: encoding", source->total_bytes());
  std::vector<std::string> chunk;
  std::vector<bool> chunk_is_val;
  int64_t chunk_bytes = 0;
  auto flush = [&] {
    const auto ids = encode_chunk(tok, chunk, threads);
    for (size_t i = 0; i < ids.size(); ++i) (chunk_is_val[i] ? val_w : train_w).add_document(ids[i]);
    chunk.clear();
    chunk_is_val.clear();
    chunk_bytes = 0;
    progress.update(source->bytes_read(), train_w.num_tokens() + val_w.num_tokens());
  };
  while (source->next(&doc)) {
    chunk_bytes += static_cast<int64_t>(doc.size());
    chunk_is_val.push_back(split.next_is_validation());
    chunk.push_back(std::move(doc));
    if (chunk_bytes >= o.chunk_bytes) flush();
  }
  flush();
  progress.finish();
  train_w.finish();
  val_w.finish();
  if (source->skipped_lines() > 0) {
    spdlog::warn("prepare: skipped {} malformed line(s) (--skip-bad-lines); the first:",
                 source->skipped_lines());
    for (const auto& e : source->skipped_examples()) spdlog::warn("  {}", e);
  }

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
