// CIFAR-10 / CIFAR-100 binary batches (https://www.cs.toronto.edu/~kriz/cifar.html): fixed-size records of
// label byte(s) then 3072 image bytes (1024 red, 1024 green, 1024 blue; rows of 32), no header.
#include <algorithm>
#include <cstring>
#include <filesystem>

#include "engine/file_io.h"
#include "frontends/datasets/dataset_readers.h"

namespace faultline::datasets {

namespace {

constexpr int64_t kChannels = 3;
constexpr int64_t kSide = 32;
constexpr int64_t kImageBytes = kChannels * kSide * kSide;  // 3072

// The batch files `inputs` stands for: itself, or the test (else training) batches of a folder.
Result<std::vector<std::string>> batch_files(const std::string& inputs, bool cifar100) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(inputs, ec)) return not_found("dataset.inputs: " + inputs + ": no such file or folder");
  if (!fs::is_directory(inputs, ec)) return std::vector<std::string>{inputs};
  const fs::path folder(inputs);
  const std::string test_name = cifar100 ? "test.bin" : "test_batch.bin";
  if (fs::is_regular_file(folder / test_name, ec)) return std::vector<std::string>{(folder / test_name).string()};
  if (cifar100) {
    if (fs::is_regular_file(folder / "train.bin", ec)) return std::vector<std::string>{(folder / "train.bin").string()};
    return not_found("dataset.inputs: " + inputs + ": the folder has neither test.bin nor train.bin");
  }
  // data_batch_<k>.bin in increasing k (numeric, so data_batch_10 follows data_batch_9).
  std::vector<std::pair<long, std::string>> batches;
  for (const fs::directory_entry& entry : fs::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    const std::string prefix = "data_batch_", suffix = ".bin";
    if (name.size() <= prefix.size() + suffix.size() || name.rfind(prefix, 0) != 0 ||
        name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
      continue;
    }
    const std::string digits = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
    if (digits.empty() || digits.size() > 6 || !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) continue;
    batches.emplace_back(std::stol(digits), entry.path().string());
  }
  if (ec) return io_error("dataset.inputs: " + inputs + ": cannot list the folder: " + ec.message());
  if (batches.empty()) {
    return not_found("dataset.inputs: " + inputs + ": the folder has neither test_batch.bin nor data_batch_*.bin");
  }
  std::sort(batches.begin(), batches.end());
  std::vector<std::string> files;
  for (auto& [index, path] : batches) files.push_back(std::move(path));
  return files;
}

}  // namespace

Result<Dataset> read_cifar_dataset(const DatasetSpec& spec, bool cifar100) {
  const int64_t label_bytes = cifar100 ? 2 : 1;
  const int64_t record_bytes = label_bytes + kImageBytes;
  const char* format = cifar100 ? "cifar100" : "cifar10";
  FL_ASSIGN_OR_RETURN(std::vector<std::string> files, batch_files(spec.inputs, cifar100));

  // Sizes first, so a bad file or limit fails before anything large is read.
  std::vector<int64_t> records;
  int64_t available = 0;
  for (const std::string& file : files) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(file, ec);
    if (ec) return io_error("dataset.inputs: " + file + ": " + ec.message());
    const int64_t bytes = static_cast<int64_t>(size);
    if (bytes == 0 || bytes % record_bytes != 0) {
      return invalid_argument("dataset.inputs: " + file + ": " + std::to_string(bytes) +
                              " bytes is not a whole number of " + std::to_string(record_bytes) + "-byte " + format +
                              " records (" + std::to_string(label_bytes) + " label byte" +
                              (label_bytes > 1 ? "s" : "") + " + 3072 image bytes)");
    }
    records.push_back(bytes / record_bytes);
    available += bytes / record_bytes;
  }
  FL_ASSIGN_OR_RETURN(int64_t count, samples_to_take(spec.limit, available, spec.inputs));

  FL_ASSIGN_OR_RETURN(Tensor images, Tensor::allocate(DType::kFloat32, {count, kChannels, kSide, kSide}));
  FL_ASSIGN_OR_RETURN(Tensor labels, Tensor::allocate(DType::kInt64, {count}));
  float* pixels = images.data<float>();
  int64_t* classes = labels.data<int64_t>();
  int64_t taken = 0;
  for (size_t f = 0; f < files.size() && taken < count; ++f) {
    Result<std::string> bytes = read_file(files[f]);
    if (!bytes.is_ok()) return bytes.status().with_context("dataset.inputs");
    if (static_cast<int64_t>(bytes->size()) != records[f] * record_bytes) {
      return io_error("dataset.inputs: " + files[f] + ": changed size while being read");
    }
    const auto* data = reinterpret_cast<const unsigned char*>(bytes->data());
    for (int64_t r = 0; r < records[f] && taken < count; ++r, ++taken) {
      const unsigned char* record = data + r * record_bytes;
      classes[taken] = record[label_bytes - 1];  // CIFAR-100: coarse, then fine; keep the fine label
      float* dst = pixels + taken * kImageBytes;
      for (int64_t i = 0; i < kImageBytes; ++i) dst[i] = static_cast<float>(record[label_bytes + i]);
    }
  }
  Dataset dataset;
  dataset.images = std::move(images);
  dataset.labels = std::move(labels);
  dataset.source = spec.inputs;
  return dataset;
}

}  // namespace faultline::datasets
