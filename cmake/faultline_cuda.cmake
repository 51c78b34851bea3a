# FAULTLINE_CUDA=AUTO|ON|OFF: the CUDA backend is built when nvcc and cuDNN are found (AUTO) or required (ON).
# Sets FAULTLINE_HAVE_CUDA. kernels/cuda/ holds the "cuda" backend (kernels/cuda/cuda_backend.h: cuDNN convolutions,
# cuBLAS GEMMs, our own kernels in kernels/cuda/*.cu) and device word patching for the fault hooks; faultline_cuda
# links cudart, cuBLAS and cuDNN (which has no CMake target: find_library).
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
  # The backend's objects (position-independent), linked twice: into faultline_cuda, a static library for the
  # GPU tests, and into libfaultline_cuda.so, the module the faultline command loads on first use of
  # --backend cuda (cli/cuda_module.h); the module takes the engine's symbols from the command.
  add_library(faultline_cuda_objects OBJECT ${FAULTLINE_CUDA_SOURCES})
  set_target_properties(faultline_cuda_objects PROPERTIES POSITION_INDEPENDENT_CODE ON)
  target_include_directories(faultline_cuda_objects PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_options(faultline_cuda_objects PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${FAULTLINE_WARNINGS}>)
  target_link_libraries(faultline_cuda_objects PUBLIC CUDA::cudart CUDA::cublas ${FAULTLINE_CUDNN_LIBRARY})
  # Headers only (the module must not carry a second copy of the engine): the include paths of what the
  # backend uses.
  target_include_directories(faultline_cuda_objects PRIVATE $<TARGET_PROPERTY:faultline_runtime,INTERFACE_INCLUDE_DIRECTORIES>)
  add_library(faultline_cuda STATIC $<TARGET_OBJECTS:faultline_cuda_objects>)
  target_include_directories(faultline_cuda PUBLIC ${CMAKE_CURRENT_SOURCE_DIR})
  target_link_libraries(faultline_cuda PUBLIC faultline_runtime CUDA::cudart CUDA::cublas ${FAULTLINE_CUDNN_LIBRARY})
  add_library(faultline_cuda_module MODULE $<TARGET_OBJECTS:faultline_cuda_objects>)
  set_target_properties(faultline_cuda_module PROPERTIES OUTPUT_NAME faultline_cuda
                        LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
  target_link_libraries(faultline_cuda_module PRIVATE CUDA::cudart CUDA::cublas ${FAULTLINE_CUDNN_LIBRARY})
endif()
message(STATUS "faultline: CUDA backend ${FAULTLINE_HAVE_CUDA} (FAULTLINE_CUDA=${FAULTLINE_CUDA})")
