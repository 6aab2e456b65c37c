#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <set>

#include "crossover/data/batch_prefetcher.h"
#include "crossover/data/sampler.h"
#include "crossover/util/random.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;
constexpr int32_t kEos = 3;

// A store of `n` documents of varied lengths with distinctive ids.
std::string make_store(const TempDir& dir, int n = 200, uint64_t vocab = 5000) {
  const std::string path = dir / "train.bin";
  TokenStoreWriter w(path, vocab);
  SplitMix64 rng(7);
  for (int d = 0; d < n; ++d) {
    std::vector<int32_t> doc(1 + rng.below(120));
    for (auto& t : doc) t = 4 + static_cast<int32_t>(rng.below(vocab - 4));
    w.add_document(doc);
  }
  w.finish();
  return path;
}

RepeatSampler::Options opts(int64_t unique, int64_t total, int64_t L = 16, int64_t B = 8) {
  RepeatSampler::Options o;
  o.unique_tokens = unique;
  o.total_tokens = total;
  o.seq_len = L;
  o.global_batch = B;
  return o;
}

std::vector<int64_t> stream_of(const RepeatSampler& s) {
  std::vector<int64_t> out;
  const int64_t L = s.options().seq_len;
  std::vector<int64_t> window(L + 1);
  for (int64_t q = 0; q < s.num_sequences(); ++q) {
    s.read_sequence(q, window.data());
    if (q == 0) out.push_back(window[0]);
    out.insert(out.end(), window.begin() + 1, window.end());
  }
  return out;
}

TEST(RepeatSampler, SequencesAreWindowsOfTheEosSeparatedDocumentStream) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  const RepeatSampler s(store, kEos, opts(1000, 4000));
  // Rebuild the stream naively: documents in the keyed order, eos after each.
  const IndexPermutation order(store.num_docs(), hash_combine(1234, 0x646f632d6f726465ull));
  std::vector<int64_t> naive;
  for (uint64_t i = 0; naive.size() < 1000; ++i) {
    for (int32_t t : store.document(order(i))) naive.push_back(t);
    naive.push_back(kEos);
  }
  naive.resize(1000);
  const auto stream = stream_of(s);
  EXPECT_EQ(s.num_sequences(), (1000 - 1) / 16);
  EXPECT_EQ(s.unique_tokens(), s.num_sequences() * 16);
  ASSERT_LE(stream.size(), naive.size());
  EXPECT_TRUE(std::equal(stream.begin(), stream.end(), naive.begin()));
}

TEST(RepeatSampler, SmallerUniqueBudgetsAreNestedPrefixes) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  const RepeatSampler small(store, kEos, opts(500, 5000));
  const RepeatSampler medium(store, kEos, opts(2000, 5000));
  const RepeatSampler all(store, kEos, opts(-1, -1));
  const auto a = stream_of(small), b = stream_of(medium), c = stream_of(all);
  ASSERT_LT(a.size(), b.size());
  ASSERT_LT(b.size(), c.size());
  EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin()));
  EXPECT_TRUE(std::equal(b.begin(), b.end(), c.begin()));
  EXPECT_LE(small.unique_tokens(), 500);
  EXPECT_GT(small.unique_tokens(), 500 - 17);
}

TEST(RepeatSampler, EachEpochVisitsEverySequenceOnceInAFreshOrder) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  const RepeatSampler s(store, kEos, opts(3000, 30000));
  const int64_t n = s.num_sequences();
  std::vector<std::vector<int64_t>> orders;
  for (int64_t e = 0; e < 3; ++e) {
    std::vector<int64_t> seen;
    for (int64_t p = 0; p < n; ++p) seen.push_back(s.sequence_of(e * n + p));
    std::vector<int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    for (int64_t q = 0; q < n; ++q) ASSERT_EQ(sorted[q], q) << "epoch " << e;
    orders.push_back(seen);
  }
  EXPECT_NE(orders[0], orders[1]);
  EXPECT_NE(orders[1], orders[2]);
}

TEST(RepeatSampler, TotalNeedNotBeAMultipleOfUnique) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  RepeatSampler s(store, kEos, opts(1000, 10000, 16, 4));
  // 10000 / (4 * 16) = 156 steps; 1000 unique tokens -> 62 sequences -> 10.06 epochs.
  EXPECT_EQ(s.num_sequences(), 62);
  EXPECT_EQ(s.total_steps(), 156);
  for (int64_t i = 0; i < s.total_steps(); ++i) s.next();
  EXPECT_NEAR(s.epoch(), 156.0 * 4 / 62, 1e-12);
  EXPECT_EQ(s.tokens_seen(), 156 * 64);
  // The partial last epoch visits distinct sequences.
  std::set<int64_t> last;
  for (int64_t g = 10 * 62; g < 156 * 4; ++g) EXPECT_TRUE(last.insert(s.sequence_of(g)).second);
}

TEST(RepeatSampler, SameSeedSameStreamOtherSeedOtherOrder) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  RepeatSampler a(store, kEos, opts(2000, 20000)), b(store, kEos, opts(2000, 20000));
  auto o = opts(2000, 20000);
  o.seed = 1;
  RepeatSampler c(store, kEos, o);
  bool differs = false;
  for (int i = 0; i < 10; ++i) {
    const auto x = a.next(), y = b.next(), z = c.next();
    EXPECT_TRUE(at::equal(x, y));
    differs |= !at::equal(x, z);
  }
  EXPECT_TRUE(differs);
}

TEST(RepeatSampler, RestoreMidEpochContinuesTheIdenticalStream) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  RepeatSampler straight(store, kEos, opts(2000, 20000));
  RepeatSampler first(store, kEos, opts(2000, 20000));
  for (int i = 0; i < 7; ++i) straight.next(), first.next();  // 56 rows: mid-epoch (124 seqs)
  const auto state = first.state();
  EXPECT_EQ(state["step"], 7);
  EXPECT_EQ(state["epoch"], 0);
  EXPECT_EQ(state["position"], 56);
  RepeatSampler resumed(store, kEos, opts(2000, 20000));
  resumed.restore(nlohmann::json::parse(state.dump()));
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(at::equal(straight.next(), resumed.next())) << i;

  RepeatSampler other(store, kEos, opts(3000, 20000));
  try {
    other.restore(state);
    FAIL() << "restore accepted another stream";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("num_sequences"), std::string::npos) << e.what();
  }
}

TEST(BatchPrefetcher, GivesTheStepsNextWouldGiveInOrderWithoutMovingTheCursor) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  RepeatSampler straight(store, kEos, opts(2000, 20000));
  RepeatSampler sampler(store, kEos, opts(2000, 20000));
  for (int i = 0; i < 3; ++i) straight.next();
  sampler.restore(straight.state());
  {
    BatchPrefetcher prefetcher(sampler, 3, sampler.total_steps(), 2, /*pinned=*/false);
    for (int64_t step = 3; step < 40; ++step) {
      ASSERT_TRUE(at::equal(prefetcher.take(step), straight.next())) << step;
      EXPECT_EQ(sampler.step(), step - 3 + 3);  // only the taker moves the cursor
      sampler.advance();
    }
    try {
      prefetcher.take(41);
      FAIL() << "a skipped step was accepted";
    } catch (const std::logic_error& e) {
      EXPECT_NE(std::string(e.what()).find("step 40 is next"), std::string::npos) << e.what();
    }
  }  // destroyed with steps still unread: the thread stops
  EXPECT_EQ(sampler.state(), straight.state());
}

TEST(BatchPrefetcher, StopsAtTheEndStep) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  RepeatSampler sampler(store, kEos, opts(2000, 20000));
  BatchPrefetcher prefetcher(sampler, 0, 2, 4, false);
  prefetcher.take(0);
  prefetcher.take(1);
  EXPECT_THROW(prefetcher.take(2), std::logic_error);
}

TEST(RepeatSampler, RankSlicesAreDisjointAndTheirUnionIsTheOneRankBatch) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  for (int world : {2, 4}) {
    RepeatSampler one(store, kEos, opts(2000, 20000));
    std::vector<RepeatSampler> ranks;
    for (int r = 0; r < world; ++r) {
      auto o = opts(2000, 20000);
      o.rank = r;
      o.world_size = world;
      ranks.emplace_back(store, kEos, o);
    }
    for (int step = 0; step < 20; ++step) {
      std::vector<at::Tensor> parts;
      std::set<int64_t> rows;
      for (auto& r : ranks) {
        const int64_t first = r.first_global_row(step);
        for (int64_t i = 0; i < r.rows_per_rank(); ++i) EXPECT_TRUE(rows.insert(first + i).second);
        parts.push_back(r.next());
      }
      EXPECT_EQ(rows.size(), 8u);
      ASSERT_TRUE(at::equal(at::cat(parts), one.next())) << "world " << world << " step " << step;
    }
  }
}

TEST(RepeatSampler, BudgetsTooSmallAreClearErrors) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir));
  EXPECT_THROW(RepeatSampler(store, kEos, opts(10, 1000)), std::invalid_argument);
  try {
    RepeatSampler(store, kEos, opts(1000, 100));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "data.total_tokens (100) is less than one step of training.global_batch x "
              "data.seq_len = 128 tokens");
  }
  auto o = opts(1000, 10000);
  o.world_size = 3;
  EXPECT_THROW(RepeatSampler(store, kEos, o), std::invalid_argument);
}

std::vector<int64_t> file_order_stream(const TokenStore& store) {
  std::vector<int64_t> stream;
  for (uint64_t d = 0; d < store.num_docs(); ++d) {
    for (int32_t t : store.document(d)) stream.push_back(t);
    stream.push_back(kEos);
  }
  return stream;
}

TEST(ValidationSet, TakesEveryWindowOfASmallSplitSharingOneTokenBetweenNeighbours) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir, 20));
  const auto stream = file_order_stream(store);
  const int64_t L = 16, A = (static_cast<int64_t>(stream.size()) - 1) / (L - 1);
  for (const int64_t count : {int64_t{0}, A, A + 50}) {  // 0 = all; more than the split: all
    const ValidationSet v = validation_set(store, kEos, L, count);
    EXPECT_EQ(v.available, A);
    ASSERT_EQ(v.windows.size(0), A);
    ASSERT_EQ(v.windows.size(1), L);
    for (int64_t i = 0; i < A; ++i) {
      EXPECT_EQ(v.index[i], i);
      for (int64_t j = 0; j < L; ++j)
        ASSERT_EQ(v.windows[i][j].item<int64_t>(), stream[i * (L - 1) + j]);
    }
  }
  // The scored tokens (1..L-1 of each window) cover the stream after its first token once.
  EXPECT_LE(A * (L - 1) + 1, static_cast<int64_t>(stream.size()));
  EXPECT_GT((A + 1) * (L - 1) + 1, static_cast<int64_t>(stream.size()));
}

TEST(ValidationSet, SpreadsASampleOverTheWholeSplitTheSameEveryTime) {
  TempDir dir;
  const auto store = TokenStore::open(make_store(dir, 300));
  const auto stream = file_order_stream(store);
  const int64_t L = 16;
  const ValidationSet v = validation_set(store, kEos, L, 40);
  ASSERT_EQ(v.windows.size(0), 40);
  ASSERT_GT(v.available, 40 * 20);
  // One window in each of 40 equal strata of the split, in order: spread, not a prefix.
  for (int64_t i = 0; i < 40; ++i) {
    EXPECT_GE(v.index[i], i * v.available / 40);
    EXPECT_LE(v.index[i], (i + 1) * v.available / 40);
    if (i > 0) EXPECT_GT(v.index[i], v.index[i - 1]);
    for (int64_t j = 0; j < L; ++j)
      ASSERT_EQ(v.windows[i][j].item<int64_t>(), stream[v.start(i, L) + j]);
  }
  EXPECT_GT(v.index.back(), v.available * 9 / 10);
  // Fixed: the same windows on every call (every run and both objectives).
  const ValidationSet again = validation_set(store, kEos, L, 40);
  EXPECT_EQ(again.index, v.index);
  EXPECT_TRUE(at::equal(again.windows, v.windows));
  EXPECT_TRUE(at::equal(validation_sequences(store, kEos, L, 40), v.windows));
}

TEST(IndexPermutation, IsABijectionForAwkwardSizes) {
  for (uint64_t n : {1ull, 2ull, 3ull, 5ull, 17ull, 1000ull, 4097ull}) {
    const IndexPermutation p(n, 42);
    std::vector<bool> hit(n);
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t x = p(i);
      ASSERT_LT(x, n);
      ASSERT_FALSE(hit[x]);
      hit[x] = true;
    }
  }
}

}  // namespace
}  // namespace crossover
