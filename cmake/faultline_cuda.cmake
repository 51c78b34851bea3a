# FAULTLINE_CUDA=AUTO|ON|OFF: the CUDA backend is built when nvcc and cuDNN are found (AUTO) or required (ON).
# Sets FAULTLINE_HAVE_CUDA. kernels/cuda/ holds what exists of the backend so far (device word patching for the
# fault hooks); cuBLAS and cuDNN are linked when kernels that use them arrive, so that no binary loads them
# before then.
set(FAULTLINE_HAVE_CUDA OFF)
if(NOT FAULTLINE_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  find_library(FAULTLINE_CUDNN_LIBRARY cudnn HINTS /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
  file(GLOB FAULTLINE_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/kernels/cuda/*.cu
       ${CMAKE_CURRENT_SOURCE_DIR}/kernels/cuda/*.cpp)
  if(CMAKE_CUDA_COMPILER AND FAULTLINE_CUDNN_LIBRARY AND FAULTLINE_CUDA_SOURCES)
    set(FAULTLINE_HAVE_CUDA ON)
  elseif(FAULTLINE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FAULTLINE_CUDA=ON but nvcc (${CMAKE_CUDA_COMPILER}), cuDNN (${FAULTLINE_CUDNN_LIBRARY}) "
                        "or kernels/cuda sources are missing")
  endif()
endif()
if(FAULTLINE_HAVE_CUDA)
  if(NOT CMAKE_CUDA_ARCHITECTURES)
    set(CMAKE_CUDA_ARCHITECTURES 75 90)
  endif()
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  add_library(faultline_cuda STATIC ${FAULTLINE_CUDA_SOURCES})
  target_include_directories(faultline_cuda PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(faultline_cuda PUBLIC faultline_engine CUDA::cudart)
endif()
message(STATUS "faultline: CUDA backend ${FAULTLINE_HAVE_CUDA} (FAULTLINE_CUDA=${FAULTLINE_CUDA})")
