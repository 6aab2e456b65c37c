#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

#include "crossover/util/fs.h"
#include "crossover/util/safetensors.h"
#include "test_util.h"

namespace crossover {
namespace {

using testing::TempDir;

TEST(Safetensors, RoundTripsEveryDtype) {
  TempDir dir;
  at::manual_seed(0);
  const safetensors::NamedTensors in = {{"w", at::randn({3, 5})},
                                        {"b16", at::randn({7}).to(at::kBFloat16)},
                                        {"h", at::randn({2, 2}).to(at::kHalf)},
                                        {"ids", at::arange(10, at::kLong)},
                                        {"i32", at::arange(4, at::kInt)},
                                        {"u8", at::arange(6, at::kByte)},
                                        {"scalar", at::tensor(3.5)},
                                        {"empty", at::empty({0, 4})}};
  safetensors::write(dir / "t.safetensors", in, {{"step", "40"}});
  const safetensors::File f(dir / "t.safetensors");
  EXPECT_EQ(f.names().size(), in.size());
  for (const auto& [name, t] : in) {
    const at::Tensor back = f.tensor(name);
    EXPECT_EQ(back.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(back.sizes(), t.sizes()) << name;
    EXPECT_TRUE(at::equal(back, t)) << name;
  }
  EXPECT_EQ(f.metadata().at("step"), "40");
  at::Tensor part = at::empty({4});
  f.read_elements("w", 6, 4, part);
  EXPECT_TRUE(at::equal(part, in[0].second.flatten().narrow(0, 6, 4)));
}

TEST(Safetensors, PythonReadsOurFilesWithNumpyOnly) {
  TempDir dir;
  const at::Tensor w = at::arange(12, at::kFloat).reshape({3, 4}) * 0.5;
  const at::Tensor b = at::tensor({1.5f, -2.25f}).to(at::kBFloat16);
  safetensors::write(dir / "t.safetensors", {{"w", w}, {"b", b}, {"n", at::arange(5, at::kLong)}},
                     {{"format", "crossover"}});
  const auto r = testing::run_command("/usr/bin/python3 " +
                                      testing::source_path("scripts/analysis/read-safetensors.py") +
                                      " " + (dir / "t.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "w float32 [3, 4] 33\n"
                      "b float32 [2] -0.75\n"
                      "n int64 [5] 10\n"
                      "__metadata__ format=crossover\n");
}

TEST(Safetensors, CorruptHeadersAreRejectedWithTheFileName) {
  TempDir dir;
  safetensors::write(dir / "t.safetensors", {{"w", at::ones({4})}});
  std::string bytes = testing::read_file(dir / "t.safetensors");
  testing::write_file(dir / "cut.safetensors", bytes.substr(0, bytes.size() - 4));
  try {
    safetensors::File f(dir / "cut.safetensors");
    FAIL() << "truncated file accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cut.safetensors: tensor w: data range"),
              std::string::npos)
        << e.what();
  }
  testing::write_file(dir / "tiny.safetensors", "abc");
  EXPECT_THROW(safetensors::File(dir / "tiny.safetensors"), std::runtime_error);
}

TEST(Safetensors, AFullDiskIsASystemErrorNamingTheFileAndTheBytes) {
  // /dev/full fails every write with ENOSPC, as a full file system does: a large tensor fails
  // in fwrite, a small one (still in stdio's buffer) only when it is flushed. Both must surface
  // as the same error, which CROSSOVER_FAULT=enospc@N imitates (tests/train).
  for (const int64_t numel : {int64_t{1} << 18, int64_t{4}}) {
    const safetensors::NamedTensors t = {{"w", at::zeros({numel})}};
    try {
      safetensors::write("/dev/full", t);
      FAIL() << "writing " << numel << " floats to /dev/full succeeded";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code().value(), ENOSPC) << e.what();
      const std::string what = e.what();
      unsigned long long written = 0, total = 0;
      ASSERT_EQ(std::sscanf(what.c_str(), "/dev/full: write failed after %llu of %llu bytes",
                            &written, &total),
                2)
          << what;
      EXPECT_NE(what.find(" bytes: No space left on device"), std::string::npos) << what;
      // The total is the file's size: 8 + header + data.
      EXPECT_GT(total, 8 + 4ull * numel);
      EXPECT_LT(total, 8 + 4ull * numel + 128);
      if (numel > 1024) EXPECT_LT(written, total) << "failed in fwrite";
      else EXPECT_EQ(written, total) << "failed at the flush";
    }
  }
}

TEST(Fs, Sha256MatchesKnownDigestAndAtomicWriteReplaces) {
  EXPECT_EQ(sha256_bytes("abc", 3),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  TempDir dir;
  atomic_write_file(dir / "x", "one");
  atomic_write_file(dir / "x", "two");
  EXPECT_EQ(testing::read_file(dir / "x"), "two");
  EXPECT_EQ(sha256_file(dir / "x"), sha256_bytes("two", 3));
  EXPECT_FALSE(std::filesystem::exists(dir / "x.tmp"));
}

}  // namespace
}  // namespace crossover
