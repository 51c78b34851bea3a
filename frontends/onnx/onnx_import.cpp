#include "frontends/onnx/onnx_import.h"

#include <onnx/onnx_pb.h>

#include <climits>

#include "engine/file_io.h"
#include "engine/specialize.h"
#include "frontends/onnx/onnx_graph_builder.h"
#include "frontends/onnx/onnx_tensor.h"

namespace faultline {

namespace {

constexpr int64_t kMinOpset = 1;
constexpr int64_t kMaxOpset = 17;
// A serialized protobuf message cannot exceed 2 GiB.
constexpr size_t kMaxProtobufBytes = INT_MAX;

template <typename Message>
Status parse_message(const std::string& bytes, Message& message) {
  if (bytes.size() > kMaxProtobufBytes)
    return unsupported("a protobuf file cannot exceed 2 GiB (" + std::to_string(bytes.size() >> 20) + " MiB given)");
  if (!message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return invalid_argument("cannot parse: truncated or corrupt protobuf");
  return Status::ok();
}

Result<int64_t> default_domain_opset(const onnx::ModelProto& model) {
  for (const onnx::OperatorSetIdProto& entry : model.opset_import()) {
    if (!entry.domain().empty() && entry.domain() != "ai.onnx") continue;
    if (entry.version() < kMinOpset || entry.version() > kMaxOpset)
      return unsupported("opset " + std::to_string(entry.version()) + " is not supported (faultline reads opset " +
                         std::to_string(kMinOpset) + " to " + std::to_string(kMaxOpset) + ")");
    return entry.version();
  }
  return invalid_argument("the model imports no opset of the default ONNX domain");
}

Result<Graph> import_model(const std::string& bytes, const std::string& source) {
  onnx::ModelProto model;
  FL_RETURN_IF_ERROR(parse_message(bytes, model));
  if (!model.has_graph() || model.ir_version() <= 0)
    return invalid_argument("cannot parse: not an ONNX model (no IR version or no graph)");
  FL_ASSIGN_OR_RETURN(int64_t opset, default_domain_opset(model));
  FL_ASSIGN_OR_RETURN(Graph graph, build_graph_from_onnx(model.graph(), opset));
  graph.source = source;
  FL_RETURN_IF_ERROR(fold_constants(graph));
  return graph;
}

}  // namespace

Result<Graph> import_onnx_file(const std::string& path) {
  FL_ASSIGN_OR_RETURN(std::string bytes, read_file(path));  // errors name the path
  return import_onnx_bytes(bytes, path);
}

Result<Graph> import_onnx_bytes(const std::string& bytes, const std::string& source) {
  Result<Graph> graph = import_model(bytes, source);
  if (!graph.is_ok()) return graph.status().with_context(source);
  return graph;
}

Result<Tensor> read_onnx_tensor_file(const std::string& path) {
  FL_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  onnx::TensorProto proto;
  FL_RETURN_IF_ERROR(parse_message(bytes, proto).with_context(path));
  Result<Tensor> tensor = tensor_from_onnx(proto);
  if (!tensor.is_ok()) return tensor.status().with_context(path);
  return tensor;
}

}  // namespace faultline
