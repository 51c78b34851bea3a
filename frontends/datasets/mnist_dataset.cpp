// MNIST IDX files (http://yann.lecun.com/exdb/mnist/): a big-endian header (magic, then one 32-bit count per
// dimension) and unsigned bytes. Images: magic 0x00000803, [count, rows, cols]; labels: 0x00000801, [count].
#include <cstdio>

#include "engine/file_io.h"
#include "frontends/datasets/dataset_readers.h"

namespace faultline::datasets {

namespace {

constexpr uint32_t kImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions
constexpr uint32_t kLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension

uint32_t big_endian_u32(const std::string& bytes, size_t offset) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + offset;
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

std::string hex32(uint32_t value) {
  char text[11];
  std::snprintf(text, sizeof(text), "0x%08x", value);
  return text;
}

// The dimensions of an IDX file of unsigned bytes with `rank` dimensions, after checking its magic and that
// its size is exactly header + payload. `key` and `path` start the messages.
Result<std::vector<int64_t>> idx_dims(const std::string& key, const std::string& path, const std::string& bytes,
                                      uint32_t magic, int rank) {
  const std::string where = key + ": " + path + ": ";
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < 4) {
    return invalid_argument(where + "only " + std::to_string(bytes.size()) + " bytes, shorter than an IDX header");
  }
  const uint32_t found = big_endian_u32(bytes, 0);
  if (found != magic) {
    std::string hint;
    if (static_cast<unsigned char>(bytes[0]) == 0x1f && static_cast<unsigned char>(bytes[1]) == 0x8b) {
      hint = " (the file is gzip-compressed: decompress it first)";
    }
    return invalid_argument(where + "magic number " + hex32(found) + " is not " + hex32(magic) + " (" +
                            (rank == 3 ? "idx3-ubyte images" : "idx1-ubyte labels") + ")" + hint);
  }
  if (bytes.size() < header) {
    return invalid_argument(where + "only " + std::to_string(bytes.size()) + " bytes, shorter than the " +
                            std::to_string(header) + "-byte IDX header");
  }
  std::vector<int64_t> dims;
  int64_t payload = 1;
  for (int d = 0; d < rank; ++d) {
    dims.push_back(big_endian_u32(bytes, 4 + 4 * static_cast<size_t>(d)));
    if (dims.back() != 0 && payload > kMaxTensorBytes / dims.back()) {
      return invalid_argument(where + "the header's dimensions are too large");
    }
    payload *= dims.back();
  }
  const int64_t expected = static_cast<int64_t>(header) + payload;
  if (static_cast<int64_t>(bytes.size()) != expected) {
    return invalid_argument(where + std::to_string(bytes.size()) + " bytes, but its header promises " +
                            std::to_string(expected) + " (" + std::to_string(header) + " header + " +
                            std::to_string(payload) + " data)");
  }
  return dims;
}

}  // namespace

Result<Dataset> read_mnist_dataset(const DatasetSpec& spec) {
  Result<std::string> image_bytes = read_file(spec.inputs);
  if (!image_bytes.is_ok()) return image_bytes.status().with_context("dataset.inputs");
  FL_ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                      idx_dims("dataset.inputs", spec.inputs, *image_bytes, kImagesMagic, 3));
  const int64_t available = dims[0], rows = dims[1], cols = dims[2];

  std::string label_bytes;
  if (!spec.labels.empty()) {
    Result<std::string> read = read_file(spec.labels);
    if (!read.is_ok()) return read.status().with_context("dataset.labels");
    label_bytes = std::move(read).value();
    FL_ASSIGN_OR_RETURN(std::vector<int64_t> label_dims,
                        idx_dims("dataset.labels", spec.labels, label_bytes, kLabelsMagic, 1));
    if (label_dims[0] != available) {
      return invalid_argument("dataset.labels: " + spec.labels + ": holds " + std::to_string(label_dims[0]) +
                              " labels, but " + spec.inputs + " holds " + std::to_string(available) + " images");
    }
  }
  FL_ASSIGN_OR_RETURN(int64_t count, samples_to_take(spec.limit, available, spec.inputs));

  Dataset dataset;
  FL_ASSIGN_OR_RETURN(dataset.images, Tensor::allocate(DType::kFloat32, {count, 1, rows, cols}));
  const auto* pixels = reinterpret_cast<const unsigned char*>(image_bytes->data()) + 16;
  float* dst = dataset.images.data<float>();
  for (int64_t i = 0; i < dataset.images.numel(); ++i) dst[i] = static_cast<float>(pixels[i]);
  if (!spec.labels.empty()) {
    FL_ASSIGN_OR_RETURN(dataset.labels, Tensor::allocate(DType::kInt64, {count}));
    const auto* classes = reinterpret_cast<const unsigned char*>(label_bytes.data()) + 8;
    for (int64_t i = 0; i < count; ++i) dataset.labels.data<int64_t>()[i] = classes[i];
  }
  dataset.source = spec.inputs;
  return dataset;
}

}  // namespace faultline::datasets
