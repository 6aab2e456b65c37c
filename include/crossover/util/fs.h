// Files that survive crashes: atomic replace (temp file, fsync, rename, fsync the directory)
// and SHA-256 checksums (OpenSSL EVP).
#pragma once

#include <string>

namespace crossover {

// Replaces `path` with `content` atomically: readers see the old or the new file, never a mix.
void atomic_write_file(const std::string& path, const std::string& content);
// fsync a file or directory by path.
void sync_path(const std::string& path);
// Hex SHA-256 of a file's bytes / of a buffer.
std::string sha256_file(const std::string& path);
std::string sha256_bytes(const void* data, size_t size);
// Incremental SHA-256, for hashing data while it is written.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(const void* data, size_t size);
  std::string hex();  // finishes the digest

 private:
  void* ctx_;
};

// Whole file as a string; the error names the file.
std::string read_text_file(const std::string& path);

}  // namespace crossover
