// Dataset readers: tiny files of every format written here (bytes by hand, HDF5 through its C API) with
// hand-known values, the preprocessing and limit rules, and every malformed case naming its file or key.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>

#include "engine/npy.h"
#include "frontends/datasets/dataset.h"
#include "support/test_support.h"

namespace faultline {
namespace {

using ::faultline::testing::temp_dir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::string big_endian(uint32_t value) {
  return {static_cast<char>(value >> 24), static_cast<char>(value >> 16), static_cast<char>(value >> 8),
          static_cast<char>(value)};
}

Tensor uint8_tensor(Shape shape, const std::vector<uint8_t>& values) {
  Tensor t = Tensor::allocate(DType::kUInt8, shape).value();
  std::copy(values.begin(), values.end(), t.data<uint8_t>());
  return t;
}

Tensor int32_tensor(Shape shape, const std::vector<int32_t>& values) {
  Tensor t = Tensor::allocate(DType::kInt32, shape).value();
  std::copy(values.begin(), values.end(), t.data<int32_t>());
  return t;
}

std::vector<float> floats_of(const Tensor& t) { return {t.data<float>(), t.data<float>() + t.numel()}; }
std::vector<int64_t> labels_of(const Tensor& t) { return {t.data<int64_t>(), t.data<int64_t>() + t.numel()}; }

bool starts_with(const std::string& text, const std::string& prefix) { return text.rfind(prefix, 0) == 0; }

// Asserts that `spec` fails with a message starting with `prefix` and containing every one of `parts`.
void expect_error(const DatasetSpec& spec, const std::string& prefix, const std::vector<std::string>& parts) {
  Result<Dataset> result = load_dataset(spec);
  ASSERT_FALSE(result.is_ok()) << "expected an error starting with " << prefix;
  const std::string& message = result.status().message();
  EXPECT_TRUE(starts_with(message, prefix)) << message;
  for (const std::string& part : parts) EXPECT_NE(message.find(part), std::string::npos) << part << " | " << message;
}

// --- npy --------------------------------------------------------------------------------------------------

struct NpyFiles {
  std::string images, labels;
};

// Images uint8 [3, 1, 2, 2] = 0..11, labels int32 [3] = {4, 0, 9}.
NpyFiles write_npy_set() {
  const std::string dir = temp_dir();
  NpyFiles files{dir + "/images.npy", dir + "/labels.npy"};
  std::vector<uint8_t> pixels(12);
  for (int i = 0; i < 12; ++i) pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(i);
  EXPECT_TRUE(write_npy(files.images, uint8_tensor({3, 1, 2, 2}, pixels)).is_ok());
  EXPECT_TRUE(write_npy(files.labels, int32_tensor({3}, {4, 0, 9})).is_ok());
  return files;
}

TEST(NpyDataset, ReadsImagesAsFloatAndLabelsAsInt64) {
  NpyFiles files = write_npy_set();
  Result<Dataset> d = load_dataset({.format = "npy", .inputs = files.images, .labels = files.labels});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.dtype(), DType::kFloat32);
  EXPECT_EQ(d->images.shape(), (Shape{3, 1, 2, 2}));
  EXPECT_EQ(floats_of(d->images), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
  EXPECT_EQ(d->labels.dtype(), DType::kInt64);
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{4, 0, 9}));
  EXPECT_EQ(d->source, files.images);
}

TEST(NpyDataset, LabelsAreOptional) {
  NpyFiles files = write_npy_set();
  Result<Dataset> d = load_dataset({.format = "npy", .inputs = files.images});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_TRUE(d->labels.empty());
}

TEST(NpyDataset, FloatLabelsMustBeIntegral) {
  NpyFiles files = write_npy_set();
  const std::string labels = temp_dir() + "/float_labels.npy";
  ASSERT_TRUE(write_npy(labels, Tensor::from_floats({3, 1}, {1.0f, 2.0f, 3.0f})).is_ok());
  Result<Dataset> d = load_dataset({.format = "npy", .inputs = files.images, .labels = labels});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{1, 2, 3}));

  ASSERT_TRUE(write_npy(labels, Tensor::from_floats({3}, {1.0f, 2.5f, 3.0f})).is_ok());
  expect_error({.format = "npy", .inputs = files.images, .labels = labels}, "dataset.labels: " + labels,
               {"label 1", "not an integer"});
  ASSERT_TRUE(write_npy(labels, int32_tensor({3}, {1, -2, 3})).is_ok());
  expect_error({.format = "npy", .inputs = files.images, .labels = labels}, "dataset.labels: " + labels,
               {"label 1", ">= 0"});
}

TEST(NpyDataset, LabelCountMustMatch) {
  NpyFiles files = write_npy_set();
  ASSERT_TRUE(write_npy(files.labels, int32_tensor({2}, {1, 2})).is_ok());
  expect_error({.format = "npy", .inputs = files.images, .labels = files.labels}, "dataset.labels: " + files.labels,
               {"holds 2 labels", "3 images"});
}

TEST(NpyDataset, MissingFilesNameKeyAndPath) {
  NpyFiles files = write_npy_set();
  const std::string missing = temp_dir() + "/nope.npy";
  expect_error({.format = "npy", .inputs = missing}, "dataset.inputs: ", {missing});
  expect_error({.format = "npy", .inputs = files.images, .labels = missing}, "dataset.labels: ", {missing});
}

TEST(NpyDataset, NhwcIsMovedToNchw) {
  const std::string path = temp_dir() + "/nhwc.npy";
  // One 1x2 image with 3 channels: pixel 0 = (1, 2, 3), pixel 1 = (4, 5, 6).
  ASSERT_TRUE(write_npy(path, Tensor::from_floats({1, 1, 2, 3}, {1, 2, 3, 4, 5, 6})).is_ok());
  Result<Dataset> d = load_dataset({.format = "npy", .inputs = path, .layout = "nhwc"});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.shape(), (Shape{1, 3, 1, 2}));
  EXPECT_EQ(floats_of(d->images), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  expect_error({.format = "npy", .inputs = path, .layout = "hwc"}, "dataset.layout: ", {"'hwc'"});
}

// --- preprocessing, limit, format ---------------------------------------------------------------------------

TEST(Preprocess, ScaleThenMeanAndStdPerChannel) {
  const std::string path = temp_dir() + "/rgb.npy";
  // [1, 3, 1, 2]: channel 0 = {0, 255}, channel 1 = {51, 102}, channel 2 = {255, 255}.
  ASSERT_TRUE(write_npy(path, uint8_tensor({1, 3, 1, 2}, {0, 255, 51, 102, 255, 255})).is_ok());
  DatasetSpec spec{.format = "npy", .inputs = path};
  spec.scale = 1.0f / 255.0f;
  spec.mean = {0.5f, 0.2f, 0.0f};
  spec.std = {0.5f, 0.1f, 2.0f};
  Result<Dataset> d = load_dataset(spec);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  // (0 - .5)/.5, (1 - .5)/.5 | (.2 - .2)/.1, (.4 - .2)/.1 | 1/2, 1/2
  const std::vector<float> expected{-1.0f, 1.0f, 0.0f, 2.0f, 0.5f, 0.5f};
  ASSERT_EQ(d->images.numel(), 6);
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(floats_of(d->images)[i], expected[i], 1e-6) << i;

  spec.mean = {0.5f};
  expect_error(spec, "dataset.preprocess.mean: ", {"1 entries", "3 channels"});
  spec.mean = {0.5f, 0.2f, 0.0f};
  spec.std = {1.0f, 1.0f};
  expect_error(spec, "dataset.preprocess.std: ", {"2 entries", "3 channels"});
  spec.std = {1.0f, 0.0f, 1.0f};
  expect_error(spec, "dataset.preprocess.std: ", {"entry 1 is 0"});
}

TEST(Preprocess, MeanAloneUsesStdOne) {
  const std::string path = temp_dir() + "/gray.npy";
  ASSERT_TRUE(write_npy(path, uint8_tensor({2, 1, 1, 1}, {10, 20})).is_ok());
  DatasetSpec spec{.format = "npy", .inputs = path};
  spec.mean = {5.0f};
  Result<Dataset> d = load_dataset(spec);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(floats_of(d->images), (std::vector<float>{5.0f, 15.0f}));
}

TEST(Limit, KeepsTheFirstSamples) {
  NpyFiles files = write_npy_set();
  DatasetSpec spec{.format = "npy", .inputs = files.images, .labels = files.labels};
  spec.limit = 2;
  Result<Dataset> d = load_dataset(spec);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.shape(), (Shape{2, 1, 2, 2}));
  EXPECT_EQ(floats_of(d->images), (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{4, 0}));
}

TEST(Limit, MoreThanAvailableOrBelowOneIsAnError) {
  NpyFiles files = write_npy_set();
  DatasetSpec spec{.format = "npy", .inputs = files.images};
  spec.limit = 4;
  expect_error(spec, "dataset.limit: ", {"4 samples", files.images, "holds 3"});
  spec.limit = 0;
  expect_error(spec, "dataset.limit: ", {"at least 1"});
}

TEST(Format, UnknownFormatAndMissingInputsNameTheKey) {
  expect_error({.format = "png", .inputs = "x"}, "dataset.format: ", {"'png'", "mnist-idx"});
  expect_error({.format = "npy"}, "dataset.inputs: ", {"missing"});
}

TEST(Format, ShapeThatDoesNotFitTheModelNamesTheKey) {
  NpyFiles files = write_npy_set();
  Result<Dataset> d = load_dataset({.format = "npy", .inputs = files.images});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_TRUE(check_dataset_fits(*d, "input", {kDynamicDim, 1, 2, 2}).is_ok());
  EXPECT_TRUE(check_dataset_fits(*d, "input", {1, 1, 2, 2}).is_ok());  // the batch is the runner's business
  Status status = check_dataset_fits(*d, "input", {kDynamicDim, 3, 32, 32});
  ASSERT_FALSE(status.is_ok());
  EXPECT_TRUE(starts_with(status.message(), "dataset.inputs: " + files.images)) << status.message();
  EXPECT_NE(status.message().find("[1, 2, 2]"), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("[N, 3, 32, 32]"), std::string::npos) << status.message();
}

// --- HDF5 -------------------------------------------------------------------------------------------------

void write_h5_dataset(hid_t file, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                      const void* data) {
  hid_t space = H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr);
  hid_t dataset = H5Dcreate2(file, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(dataset, 0) << name;
  ASSERT_GE(H5Dwrite(dataset, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), 0) << name;
  H5Dclose(dataset);
  H5Sclose(space);
}

// images uint8 [3, 1, 2, 2] = 10..21 under `images_name`, labels int16 [3] = {2, 7, 1} under `labels_name`.
std::string write_h5_set(const std::string& images_name = "images", const std::string& labels_name = "labels") {
  const std::string path = temp_dir() + "/set.h5";
  hid_t file = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  EXPECT_GE(file, 0);
  std::vector<uint8_t> pixels(12);
  for (int i = 0; i < 12; ++i) pixels[static_cast<size_t>(i)] = static_cast<uint8_t>(10 + i);
  const std::vector<int16_t> labels{2, 7, 1};
  write_h5_dataset(file, images_name, H5T_NATIVE_UINT8, {3, 1, 2, 2}, pixels.data());
  write_h5_dataset(file, labels_name, H5T_NATIVE_INT16, {3}, labels.data());
  const std::vector<double> fractional{0.0, 1.5, 2.0};
  write_h5_dataset(file, "fractional", H5T_NATIVE_DOUBLE, {3}, fractional.data());
  const std::vector<int32_t> two{1, 2};
  write_h5_dataset(file, "two_labels", H5T_NATIVE_INT32, {2}, two.data());
  H5Fclose(file);
  return path;
}

TEST(Hdf5Dataset, ReadsBothDatasetsAnyNumericType) {
  const std::string path = write_h5_set();
  Result<Dataset> d = load_dataset({.format = "hdf5", .inputs = path});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.dtype(), DType::kFloat32);
  EXPECT_EQ(d->images.shape(), (Shape{3, 1, 2, 2}));
  EXPECT_EQ(floats_of(d->images)[0], 10.0f);
  EXPECT_EQ(floats_of(d->images)[11], 21.0f);
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{2, 7, 1}));
}

TEST(Hdf5Dataset, NamesAreConfigurableAndLimitApplies) {
  const std::string path = write_h5_set("x_test", "y_test");
  DatasetSpec spec{.format = "hdf5", .inputs = path, .hdf5_images = "x_test", .hdf5_labels = "y_test"};
  spec.limit = 1;
  Result<Dataset> d = load_dataset(spec);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{2}));
  spec.hdf5_labels = "";
  spec.limit.reset();
  d = load_dataset(spec);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_TRUE(d->labels.empty());
}

TEST(Hdf5Dataset, ErrorsNameFileAndDataset) {
  const std::string path = write_h5_set();
  expect_error({.format = "hdf5", .inputs = path, .hdf5_images = "pixels"}, "dataset.inputs: " + path,
               {"'pixels'", "does not exist"});
  expect_error({.format = "hdf5", .inputs = path, .hdf5_labels = "targets"}, "dataset.labels: " + path,
               {"'targets'", "does not exist"});
  expect_error({.format = "hdf5", .inputs = path, .hdf5_labels = "fractional"}, "dataset.labels: " + path,
               {"'fractional'", "label 1", "not an integer"});
  expect_error({.format = "hdf5", .inputs = path, .hdf5_labels = "two_labels"}, "dataset.labels: " + path,
               {"'two_labels'", "2 labels", "3 images"});
  const std::string not_h5 = temp_dir() + "/plain.h5";
  write_bytes(not_h5, "not an hdf5 file at all");
  expect_error({.format = "hdf5", .inputs = not_h5}, "dataset.inputs: " + not_h5, {"not an HDF5 file"});
  const std::string missing = temp_dir() + "/missing.h5";
  expect_error({.format = "hdf5", .inputs = missing}, "dataset.inputs: " + missing, {"no such file"});
}

// --- CIFAR ------------------------------------------------------------------------------------------------

// One record: label byte(s), then 3072 pixels where pixel i of channel c is (c * 100 + i + base) % 256.
std::string cifar_record(const std::vector<uint8_t>& label_bytes, int base) {
  std::string record(label_bytes.begin(), label_bytes.end());
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 1024; ++i) record += static_cast<char>((c * 100 + i + base) % 256);
  }
  return record;
}

TEST(CifarDataset, ReadsOneFileChannelMajor) {
  const std::string path = temp_dir() + "/test_batch.bin";
  write_bytes(path, cifar_record({3}, 0) + cifar_record({8}, 7));
  Result<Dataset> d = load_dataset({.format = "cifar10", .inputs = path});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.shape(), (Shape{2, 3, 32, 32}));
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{3, 8}));
  const std::vector<float> x = floats_of(d->images);
  EXPECT_EQ(x[0], 0.0f);                      // image 0, red, row 0, col 0
  EXPECT_EQ(x[1 * 1024 + 33], 133.0f);        // image 0, green, row 1, col 1: 100 + 33
  EXPECT_EQ(x[2 * 1024 + 1023], 199.0f);      // image 0, blue, last: (200 + 1023) % 256
  EXPECT_EQ(x[3072 + 5], 12.0f);              // image 1, red, 5 + 7
}

TEST(CifarDataset, FolderPrefersTestBatchElseDataBatchesInNumericOrder) {
  const std::string dir = temp_dir();
  write_bytes(dir + "/data_batch_2.bin", cifar_record({2}, 0));
  write_bytes(dir + "/data_batch_10.bin", cifar_record({10 % 10}, 0));
  write_bytes(dir + "/data_batch_1.bin", cifar_record({1}, 0) + cifar_record({1}, 1));
  write_bytes(dir + "/batches.meta.txt", "airplane\n");
  Result<Dataset> d = load_dataset({.format = "cifar10", .inputs = dir});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{1, 1, 2, 0}));

  DatasetSpec limited{.format = "cifar10", .inputs = dir};
  limited.limit = 3;
  d = load_dataset(limited);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{1, 1, 2}));

  write_bytes(dir + "/test_batch.bin", cifar_record({6}, 0));
  d = load_dataset({.format = "cifar10", .inputs = dir});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{6}));

  const std::string empty = temp_dir();
  expect_error({.format = "cifar10", .inputs = empty}, "dataset.inputs: " + empty, {"test_batch.bin"});
}

TEST(Cifar100Dataset, KeepsTheFineLabel) {
  const std::string path = temp_dir() + "/test.bin";
  write_bytes(path, cifar_record({11, 42}, 0) + cifar_record({3, 99}, 0));
  Result<Dataset> d = load_dataset({.format = "cifar100", .inputs = path});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{42, 99}));
  EXPECT_EQ(floats_of(d->images)[0], 0.0f);  // the second label byte is not a pixel
  EXPECT_EQ(floats_of(d->images)[1], 1.0f);
  // The same bytes read as CIFAR-10 do not divide into 3073-byte records.
  expect_error({.format = "cifar10", .inputs = path}, "dataset.inputs: " + path, {"6148 bytes", "3073-byte"});
}

TEST(CifarDataset, TruncatedRecordNamesFileAndByteCount) {
  const std::string path = temp_dir() + "/data_batch_1.bin";
  std::string bytes = cifar_record({1}, 0) + cifar_record({2}, 0);
  bytes.resize(bytes.size() - 1);
  write_bytes(path, bytes);
  expect_error({.format = "cifar10", .inputs = path}, "dataset.inputs: " + path, {"6145 bytes", "3073-byte"});
  expect_error({.format = "cifar10", .inputs = path + ".missing"}, "dataset.inputs: ", {"no such file"});
  expect_error({.format = "cifar10", .inputs = path, .layout = "nhwc"}, "dataset.layout: ", {"cifar10"});
}

// --- MNIST IDX --------------------------------------------------------------------------------------------

std::string idx_images(uint32_t count, uint32_t rows, uint32_t cols, int base) {
  std::string bytes = big_endian(0x00000803) + big_endian(count) + big_endian(rows) + big_endian(cols);
  for (uint32_t i = 0; i < count * rows * cols; ++i) bytes += static_cast<char>(base + static_cast<int>(i));
  return bytes;
}

std::string idx_labels(const std::vector<uint8_t>& labels) {
  std::string bytes = big_endian(0x00000801) + big_endian(static_cast<uint32_t>(labels.size()));
  bytes.append(labels.begin(), labels.end());
  return bytes;
}

struct MnistFiles {
  std::string images, labels;
};

MnistFiles write_mnist(const std::string& images, const std::string& labels) {
  const std::string dir = temp_dir();
  MnistFiles files{dir + "/t10k-images-idx3-ubyte", dir + "/t10k-labels-idx1-ubyte"};
  write_bytes(files.images, images);
  write_bytes(files.labels, labels);
  return files;
}

TEST(MnistDataset, ReadsImagesAndLabels) {
  MnistFiles files = write_mnist(idx_images(2, 2, 3, 100), idx_labels({7, 2}));
  Result<Dataset> d = load_dataset({.format = "mnist-idx", .inputs = files.images, .labels = files.labels});
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.shape(), (Shape{2, 1, 2, 3}));
  EXPECT_EQ(floats_of(d->images), (std::vector<float>{100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111}));
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{7, 2}));
}

TEST(MnistDataset, FullSize28x28WithLimitAndScale) {
  MnistFiles files = write_mnist(idx_images(3, 28, 28, 0), idx_labels({1, 2, 3}));
  DatasetSpec spec{.format = "mnist-idx", .inputs = files.images, .labels = files.labels};
  spec.limit = 2;
  spec.scale = 0.5f;
  Result<Dataset> d = load_dataset(spec);
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_EQ(d->images.shape(), (Shape{2, 1, 28, 28}));
  EXPECT_EQ(floats_of(d->images)[784 + 1], static_cast<float>((784 + 1) % 256) * 0.5f);
  EXPECT_EQ(labels_of(d->labels), (std::vector<int64_t>{1, 2}));
}

TEST(MnistDataset, MalformedFilesNameTheFile) {
  MnistFiles files = write_mnist(idx_images(2, 2, 3, 0), idx_labels({7, 2, 5}));
  expect_error({.format = "mnist-idx", .inputs = files.images, .labels = files.labels},
               "dataset.labels: " + files.labels, {"3 labels", "2 images"});

  // Labels file given as images: wrong magic.
  expect_error({.format = "mnist-idx", .inputs = files.labels}, "dataset.inputs: " + files.labels,
               {"0x00000801", "0x00000803"});
  // Truncated payload.
  std::string truncated = idx_images(2, 2, 3, 0);
  truncated.pop_back();
  write_bytes(files.images, truncated);
  expect_error({.format = "mnist-idx", .inputs = files.images}, "dataset.inputs: " + files.images,
               {"27 bytes", "promises 28"});
  // Shorter than a header.
  write_bytes(files.images, big_endian(0x00000803) + big_endian(2));
  expect_error({.format = "mnist-idx", .inputs = files.images}, "dataset.inputs: " + files.images,
               {"8 bytes", "16-byte IDX header"});
  write_bytes(files.images, "ab");
  expect_error({.format = "mnist-idx", .inputs = files.images}, "dataset.inputs: " + files.images, {"2 bytes"});
  // gzip-compressed, as the files are downloaded.
  write_bytes(files.images, std::string("\x1f\x8b\x08\x00", 4) + std::string(20, '\0'));
  expect_error({.format = "mnist-idx", .inputs = files.images}, "dataset.inputs: " + files.images, {"gzip"});
  // Missing.
  expect_error({.format = "mnist-idx", .inputs = files.images + "-missing"}, "dataset.inputs: ", {"-missing"});
}

}  // namespace
}  // namespace faultline
