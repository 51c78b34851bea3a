// NumPy .npy files (format versions 1.0-3.0): little-endian, C order. Read: float32/float64/float16/int8/
// uint8/int32/int64/bool. Write: any faultline dtype except bfloat16, atomically (engine/file_io.h).
#pragma once

#include <string>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

// Errors name the path and the problem (not an .npy file, Fortran order, big-endian, an unsupported dtype,
// a truncated payload, a shape over kMaxTensorBytes).
Result<Tensor> read_npy(const std::string& path);
Result<Tensor> parse_npy(const std::string& bytes, const std::string& source);

Status write_npy(const std::string& path, const Tensor& tensor);
std::string serialize_npy(const Tensor& tensor);

}  // namespace faultline
