// Token stores (train.bin, val.bin): header, size and document offsets on open, then every
// token id and every document read back.
#include <vector>

#include "../fuzz_util.h"
#include "crossover/data/token_store.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = crossover::fuzz::scratch_dir() + "/tokens.bin";
  crossover::fuzz::write_input(path, data, size);
  crossover::fuzz::expect_clean_rejection([&] {
    const auto store = crossover::TokenStore::open(path);
    store.verify_ids();
    std::vector<int64_t> ids;
    for (uint64_t d = 0; d < store.num_docs(); ++d) {
      const uint64_t begin = store.doc_begin(d), end = store.doc_begin(d + 1);
      ids.resize(end - begin);
      store.read(begin, end - begin, ids.data());
    }
  });
  return 0;
}
