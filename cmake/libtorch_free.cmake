# The units of the main build that need no LibTorch, named once for the two builds that use them:
# the main build (CMakeLists.txt) checks at configure time that each still exists and includes no
# LibTorch header itself; the fuzz build (fuzz/CMakeLists.txt) compiles exactly these with clang,
# libFuzzer and the sanitizers, so a unit that gains a LibTorch dependency fails there to link or
# compile. Paths are relative to the repository root.

# The readers of outside input, which the fuzz targets (fuzz/targets/) drive.
set(CROSSOVER_READER_SOURCES
  src/config/config.cpp
  src/config/token_count.cpp
  src/config/yaml_errors.cpp
  src/sweep/sweep_file.cpp
  src/sweep/run_state.cpp
  src/sweep/manifest.cpp
  src/eval/tasks.cpp
  src/util/lines.cpp
  src/util/metrics.cpp
  src/util/safetensors_header.cpp
  src/checkpoint/checkpoint_format.cpp
  src/checkpoint/train_state.cpp
  src/data/data_dir.cpp
  src/data/token_store.cpp)

# The other LibTorch-free units, whose unit tests run under the sanitizers with the readers'
# (scripts/test/sanitize.sh --fast).
set(CROSSOVER_LIBTORCH_FREE_SOURCES
  src/model/flops.cpp
  src/util/fs.cpp
  src/util/fault.cpp
  src/util/progress.cpp
  src/util/random.cpp
  src/util/run_lock.cpp
  src/util/tensorboard.cpp
  src/sweep/plan.cpp
  src/sweep/slurm.cpp
  src/analysis/crossing.cpp
  src/analysis/fit.cpp
  src/analysis/lm_eval_results.cpp
  src/analysis/report.cpp
  src/analysis/results.cpp
  src/analysis/stats.cpp)

# Their unit tests.
set(CROSSOVER_LIBTORCH_FREE_TESTS
  tests/test_paths.cpp
  tests/config/test_config.cpp
  tests/data/test_token_store.cpp
  tests/eval/test_tasks.cpp
  tests/analysis/test_crossing.cpp
  tests/analysis/test_lm_eval_results.cpp
  tests/analysis/test_report.cpp
  tests/analysis/test_stats.cpp
  tests/sweep/test_sweep_slurm.cpp
  tests/util/test_input_limits.cpp
  tests/util/test_run_lock.cpp
  tests/util/test_tensorboard.cpp)

# Fails configuring when a listed file is gone or includes a LibTorch header directly.
function(crossover_check_libtorch_free root)
  foreach(file IN LISTS CROSSOVER_READER_SOURCES CROSSOVER_LIBTORCH_FREE_SOURCES
                        CROSSOVER_LIBTORCH_FREE_TESTS)
    if(NOT EXISTS ${root}/${file})
      message(FATAL_ERROR "cmake/libtorch_free.cmake names ${file}, which does not exist")
    endif()
    file(STRINGS ${root}/${file} torch_includes REGEX "^#include <(ATen|torch|c10)/")
    if(torch_includes)
      message(FATAL_ERROR "cmake/libtorch_free.cmake: ${file} includes LibTorch "
                          "(${torch_includes}); take it off the list or the include out")
    endif()
  endforeach()
endfunction()
