# The NCCL headers crossover compiles against must be the ones LibTorch was built with.
#
# ProcessGroupNCCL::Options holds an ncclConfig_t by value, and its inline constructor and
# destructor are compiled into crossover: under another nccl.h they lay the object out with
# another size than libtorch_cuda.so does, and making or destroying a process group corrupts the
# heap. PyPI's torch depends on an exact nvidia-nccl-cu13 release, whose headers sit beside
# torch/ in site-packages (nvidia/nccl/include); they go first on every layer's include path,
# ahead of /usr/local/cuda/include or /usr/include, which may hold any other NCCL. Configuring
# stops when that package's version and its header disagree, or when no such headers are found
# (-DCROSSOVER_NCCL_INCLUDE_DIR names them for a LibTorch from elsewhere).
#
# Sets CROSSOVER_NCCL_VERSION (major.minor.patch of the chosen nccl.h).

function(crossover_nccl_header_version header out)
  file(STRINGS "${header}" lines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
  set(version "")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "NCCL_${part} +([0-9]+)" found "${lines}")
    if(NOT found)
      message(FATAL_ERROR "${header}: no NCCL_${part}: not an NCCL header")
    endif()
    list(APPEND version "${CMAKE_MATCH_1}")
  endforeach()
  list(JOIN version "." version)
  set(${out} "${version}" PARENT_SCOPE)
endfunction()

get_filename_component(torch_site_packages "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)
set(CROSSOVER_NCCL_INCLUDE_DIR "" CACHE PATH
    "NCCL headers of the NCCL LibTorch was built with (default: the wheel's nvidia/nccl/include)")
set(nccl_package_version "")
if(NOT CROSSOVER_NCCL_INCLUDE_DIR)
  if(EXISTS "${torch_site_packages}/nvidia/nccl/include/nccl.h")
    set(CROSSOVER_NCCL_INCLUDE_DIR "${torch_site_packages}/nvidia/nccl/include")
    file(GLOB nccl_dist_info "${torch_site_packages}/nvidia_nccl_cu*-*.dist-info")
    if(nccl_dist_info)
      list(GET nccl_dist_info 0 nccl_dist_info)
      get_filename_component(name "${nccl_dist_info}" NAME)
      string(REGEX REPLACE "^nvidia_nccl_cu[0-9]+-([0-9]+\\.[0-9]+\\.[0-9]+).*$" "\\1"
             nccl_package_version "${name}")
    endif()
  else()
    message(FATAL_ERROR "CROSSOVER_CUDA=ON: the NCCL headers LibTorch was built with are not "
      "in ${torch_site_packages}/nvidia/nccl/include (PyPI's nvidia-nccl package). Another "
      "nccl.h would give ProcessGroupNCCL::Options another size than libtorch_cuda.so's. Pass "
      "-DCROSSOVER_NCCL_INCLUDE_DIR=<dir holding the matching nccl.h>.")
  endif()
endif()
if(NOT EXISTS "${CROSSOVER_NCCL_INCLUDE_DIR}/nccl.h")
  message(FATAL_ERROR "CROSSOVER_NCCL_INCLUDE_DIR=${CROSSOVER_NCCL_INCLUDE_DIR} holds no nccl.h")
endif()
crossover_nccl_header_version("${CROSSOVER_NCCL_INCLUDE_DIR}/nccl.h" CROSSOVER_NCCL_VERSION)
if(nccl_package_version AND NOT nccl_package_version STREQUAL CROSSOVER_NCCL_VERSION)
  message(FATAL_ERROR "${CROSSOVER_NCCL_INCLUDE_DIR}/nccl.h is NCCL ${CROSSOVER_NCCL_VERSION} "
    "but the installed package is ${nccl_package_version} (${nccl_dist_info}): reinstall it.")
endif()
# -I before every -isystem (LibTorch's, CUDA's): this nccl.h wins wherever nccl.h is included.
target_include_directories(crossover_external BEFORE INTERFACE "${CROSSOVER_NCCL_INCLUDE_DIR}")
message(STATUS "NCCL headers: ${CROSSOVER_NCCL_VERSION} from ${CROSSOVER_NCCL_INCLUDE_DIR}")
