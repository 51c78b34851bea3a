// ONNX tensors and types to faultline tensors and dtypes (internal to the ONNX frontend).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>

#include "engine/dtype.h"
#include "engine/graph.h"
#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline {

// onnx.TensorProto.DataType (an elem_type or Cast `to`) to a DType; unsupported for string, complex,
// uint16/32/64 and int16.
Result<DType> dtype_from_onnx(int32_t elem_type);

// A self-contained TensorProto (raw_data or the typed field of its dtype) to an owning Tensor. Errors name
// the tensor: external or segmented data, an unsupported dtype, a data size that does not match the dims.
Result<Tensor> tensor_from_onnx(const onnx::TensorProto& proto);

// The dtype and shape a ValueInfoProto declares (dim_param or a missing dim_value become kDynamicDim).
// Leaves `value` unchanged where the info says nothing (no tensor type, no shape).
Status apply_onnx_value_info(const onnx::ValueInfoProto& info, Value& value);

}  // namespace faultline
