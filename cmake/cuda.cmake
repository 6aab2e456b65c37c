# CUDA kernels (src/kernels/cuda/*.cu), included from CMakeLists.txt after the layer libraries are
# defined.
#
# crossover_kernels_cuda is a static library of the kernels alone: nvcc, sm_90 machine code (H100,
# H200) plus compute_90 PTX that the driver can compile for later GPUs, no LibTorch. It is built
# whenever nvcc exists, also in the CPU-only build where nothing links it, so CI always compiles
# the kernels. Without nvcc it is skipped with one STATUS line.
#
# -DCROSSOVER_CUDA=ON links it into crossover_kernels and defines CROSSOVER_WITH_CUDA=1 for every layer,
# which switches on the CUDA code paths, GPU tests and benchmarks. That needs a CUDA build of
# LibTorch, found through CMAKE_PREFIX_PATH or Torch_DIR (from Python:
# torch.utils.cmake_prefix_path).

# nvcc is often not on PATH: look in the usual places, then let CMake check that it works.
if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
  find_program(CROSSOVER_NVCC nvcc
    HINTS ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda PATH_SUFFIXES bin)
  if(CROSSOVER_NVCC)
    set(CMAKE_CUDA_COMPILER ${CROSSOVER_NVCC})
  endif()
endif()
include(CheckLanguage)
check_language(CUDA)

if(NOT CMAKE_CUDA_COMPILER)
  if(CROSSOVER_CUDA)
    message(FATAL_ERROR "CROSSOVER_CUDA=ON but no working nvcc was found: set CMAKE_CUDA_COMPILER")
  endif()
  message(STATUS "CUDA kernels: nvcc not found, crossover_kernels_cuda is not built")
  return()
endif()

if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER)
  set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
endif()
enable_language(CUDA)
if(CCACHE_PROGRAM)
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()

add_library(crossover_kernels_cuda STATIC
  ${CMAKE_SOURCE_DIR}/src/kernels/cuda/mdm_mask.cu ${CMAKE_SOURCE_DIR}/src/kernels/cuda/weighted_ce.cu
  ${CMAKE_SOURCE_DIR}/src/kernels/cuda/dropout_mask.cu)
set_target_properties(crossover_kernels_cuda PROPERTIES
  CUDA_ARCHITECTURES "90-real;90-virtual"
  CUDA_STANDARD 17  # CMake 3.25 (Debian 12) knows no C++20 flag for nvcc; the kernels need 17
  CUDA_STANDARD_REQUIRED ON
  # One libcudart in the process, the one LibTorch uses.
  CUDA_RUNTIME_LIBRARY Shared
  POSITION_INDEPENDENT_CODE ON
  # The directory-wide options are host-compiler flags (-fPIC) that nvcc rejects;
  # POSITION_INDEPENDENT_CODE passes -fPIC to the host compiler the nvcc way.
  COMPILE_OPTIONS "")
# The kernels layer's include tree: the plain C++ headers (crossover/kernels/mdm_mask.h, ...).
target_include_directories(crossover_kernels_cuda PRIVATE ${CMAKE_BINARY_DIR}/layers/kernels)
# -fmad=false is not needed: the weight arithmetic that must match the CPU bit for bit uses
# __fmul_rn / __fdiv_rn, which nvcc never contracts.
target_compile_options(crossover_kernels_cuda PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
if(NOT CROSSOVER_CUDA)
  # In the kernels-only build (CI's), warnings are errors: a kernel that compiles with a warning
  # fails CI. Not with CROSSOVER_CUDA, where LibTorch's CMake adds nvcc flags of its own.
  target_compile_options(crossover_kernels_cuda PRIVATE
    $<$<COMPILE_LANGUAGE:CUDA>:--Werror=all-warnings>)
endif()

if(CROSSOVER_CUDA)
  if(NOT CAFFE2_USE_CUDA)
    message(FATAL_ERROR "CROSSOVER_CUDA=ON needs a CUDA build of LibTorch; the one found "
      "(${Torch_DIR}) is CPU-only. Point CMAKE_PREFIX_PATH at torch.utils.cmake_prefix_path.")
  endif()
  find_package(CUDAToolkit REQUIRED)
  target_link_libraries(crossover_kernels_cuda PUBLIC CUDA::cudart)
  target_link_libraries(crossover_kernels PUBLIC crossover_kernels_cuda)
  # USE_C10D_NCCL enables ProcessGroupNCCL in the c10d headers (the CUDA LibTorch has it).
  # On crossover_external, so that every layer (and the precompiled header) sees the same macros.
  target_compile_definitions(crossover_external INTERFACE CROSSOVER_WITH_CUDA=1 USE_C10D_NCCL)
  include(${CMAKE_CURRENT_LIST_DIR}/nccl.cmake)
  message(STATUS "CUDA kernels: linked into crossover_kernels (CROSSOVER_WITH_CUDA=1)")
else()
  message(STATUS "CUDA kernels: crossover_kernels_cuda built with ${CMAKE_CUDA_COMPILER} "
    "(compile check only; -DCROSSOVER_CUDA=ON links them)")
endif()
