#include "engine/npy.h"

#include <cstring>
#include <regex>

#include "engine/file_io.h"

namespace faultline {

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct NpyDType {
  const char* descr;
  DType dtype;
};
constexpr NpyDType kNpyDTypes[] = {
    {"<f4", DType::kFloat32}, {"<f8", DType::kFloat64}, {"<f2", DType::kFloat16}, {"|i1", DType::kInt8},
    {"|u1", DType::kUInt8},   {"<i4", DType::kInt32},   {"<i8", DType::kInt64},   {"|b1", DType::kBool},
};

Result<DType> dtype_from_descr(const std::string& descr, const std::string& source) {
  for (const auto& row : kNpyDTypes)
    if (descr == row.descr) return row.dtype;
  if (!descr.empty() && descr[0] == '>') return unsupported(source + ": big-endian data ('" + descr + "') is not supported");
  return unsupported(source + ": dtype '" + descr + "' is not supported (float32, float64, float16, int8, uint8, int32, int64, bool)");
}

Result<Shape> parse_shape(const std::string& text, const std::string& source) {
  Shape shape;
  std::regex number(R"(\d+)");
  for (auto it = std::sregex_iterator(text.begin(), text.end(), number); it != std::sregex_iterator(); ++it) {
    const std::string digits = it->str();
    if (digits.size() > 15) return invalid_argument(source + ": dimension " + digits + " is absurdly large");
    shape.push_back(std::stoll(digits));
  }
  return shape;
}

}  // namespace

Result<Tensor> parse_npy(const std::string& bytes, const std::string& source) {
  if (bytes.size() < kMagicSize + 4 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0)
    return invalid_argument(source + ": not a NumPy .npy file (bad magic)");
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_length = 0, header_start = 0;
  if (major == 1) {
    header_length = static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return invalid_argument(source + ": truncated .npy header");
    for (int i = 3; i >= 0; --i) header_length = (header_length << 8) | static_cast<uint8_t>(bytes[8 + i]);
    header_start = 12;
  } else {
    return unsupported(source + ": .npy format version " + std::to_string(major) + " is not supported");
  }
  if (header_start + header_length > bytes.size()) return invalid_argument(source + ": truncated .npy header");
  const std::string header = bytes.substr(header_start, header_length);

  std::smatch match;
  if (!std::regex_search(header, match, std::regex(R"('descr'\s*:\s*'([^']*)')")))
    return invalid_argument(source + ": .npy header has no 'descr'");
  FL_ASSIGN_OR_RETURN(DType dtype, dtype_from_descr(match[1].str(), source));
  if (!std::regex_search(header, match, std::regex(R"('fortran_order'\s*:\s*(True|False))")))
    return invalid_argument(source + ": .npy header has no 'fortran_order'");
  if (match[1].str() == "True") return unsupported(source + ": Fortran-order arrays are not supported (save with C order)");
  if (!std::regex_search(header, match, std::regex(R"('shape'\s*:\s*\(([^)]*)\))")))
    return invalid_argument(source + ": .npy header has no 'shape'");
  FL_ASSIGN_OR_RETURN(Shape shape, parse_shape(match[1].str(), source));

  auto allocated = Tensor::allocate(dtype, shape);
  if (!allocated.is_ok()) return allocated.status().with_context(source);
  Tensor tensor = std::move(allocated).value();
  const size_t payload = bytes.size() - header_start - header_length;
  if (payload < tensor.nbytes())
    return invalid_argument(source + ": truncated: shape " + shape_to_string(shape) + " needs " +
                            std::to_string(tensor.nbytes()) + " bytes of data, the file has " + std::to_string(payload));
  if (tensor.nbytes()) std::memcpy(tensor.raw(), bytes.data() + header_start + header_length, tensor.nbytes());
  return tensor;
}

Result<Tensor> read_npy(const std::string& path) {
  FL_ASSIGN_OR_RETURN(std::string bytes, read_file(path));
  return parse_npy(bytes, path);
}

std::string serialize_npy(const Tensor& tensor) {
  const char* descr = nullptr;
  for (const auto& row : kNpyDTypes)
    if (row.dtype == tensor.dtype()) descr = row.descr;
  assert(descr != nullptr && "dtype has no .npy spelling");
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i) shape += std::to_string(tensor.shape()[i]) + ", ";
  if (tensor.shape().size() > 1) shape.resize(shape.size() - 2);  // "(2, 3)"
  if (tensor.shape().size() == 1) shape.pop_back();                // "(3,)"
  shape += ")";
  std::string header = "{'descr': '" + std::string(descr) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const size_t unpadded = kMagicSize + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::string out(kMagic, kMagicSize);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(tensor.raw()), tensor.nbytes());
  return out;
}

Status write_npy(const std::string& path, const Tensor& tensor) {
  if (tensor.dtype() == DType::kBFloat16) return unsupported(path + ": .npy has no bfloat16 dtype");
  return write_file_atomically(path, serialize_npy(tensor));
}

}  // namespace faultline
