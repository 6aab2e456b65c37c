// The source directory, compiled into this one file only (CMake defines it here), so the other
// test objects stay identical across build directories and ccache can share them.
namespace crossover::testing {
const char* source_dir() { return CROSSOVER_SOURCE_DIR; }
}  // namespace crossover::testing
