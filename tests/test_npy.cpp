// .npy reading and writing: round trips, headers as NumPy writes them, and every malformed case.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/file_io.h"
#include "engine/npy.h"

namespace faultline {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("faultline_npy_" + std::to_string(::getpid()) + "_" + name)).string();
}

// A header exactly as numpy 1.24 writes np.save(np.arange(6, dtype='<f4').reshape(2, 3)).
std::string numpy_written_2x3() {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size());
  bytes += '\0';
  bytes += header;
  for (int i = 0; i < 6; ++i) {
    float v = static_cast<float>(i);
    bytes.append(reinterpret_cast<const char*>(&v), 4);
  }
  return bytes;
}

TEST(Npy, ParsesNumpyWrittenFile) {
  auto t = parse_npy(numpy_written_2x3(), "x.npy");
  ASSERT_TRUE(t.is_ok()) << t.status().message();
  EXPECT_EQ(t->shape(), (Shape{2, 3}));
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_FLOAT_EQ(t->data<float>()[5], 5.0f);
}

TEST(Npy, RoundTripsEveryDtypeAndKeepsHeaderAligned) {
  for (DType dtype : {DType::kFloat32, DType::kFloat64, DType::kInt64, DType::kInt8, DType::kUInt8, DType::kInt32}) {
    Tensor t = Tensor::from_floats({2, 2, 3}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}).cast(dtype);
    std::string bytes = serialize_npy(t);
    size_t header_end = 10 + (static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8));
    EXPECT_EQ(header_end % 64, 0u) << "numpy aligns the data to 64 bytes";
    auto back = parse_npy(bytes, "t.npy");
    ASSERT_TRUE(back.is_ok()) << back.status().message();
    EXPECT_EQ(back->dtype(), dtype);
    EXPECT_EQ(back->shape(), t.shape());
    EXPECT_EQ(back->to_doubles(), t.to_doubles());
  }
}

TEST(Npy, ScalarAndOneDimensionalShapes) {
  Tensor scalar = Tensor::from_floats({}, {3.5f});
  EXPECT_NE(serialize_npy(scalar).find("'shape': ()"), std::string::npos);
  Tensor vector = Tensor::from_floats({3}, {1, 2, 3});
  EXPECT_NE(serialize_npy(vector).find("'shape': (3,)"), std::string::npos);
  auto back = parse_npy(serialize_npy(scalar), "s.npy");
  ASSERT_TRUE(back.is_ok());
  EXPECT_TRUE(back->shape().empty());
}

TEST(Npy, RejectsMalformedInputWithTheReason) {
  std::string good = numpy_written_2x3();
  struct Case {
    std::string bytes, expected;
  } cases[] = {
      {"hello world, not numpy", "bad magic"},
      {good.substr(0, good.size() - 5), "truncated"},
      {good.substr(0, 40), "truncated .npy header"},
  };
  for (const Case& c : cases) {
    auto t = parse_npy(c.bytes, "bad.npy");
    ASSERT_FALSE(t.is_ok());
    EXPECT_NE(t.status().message().find("bad.npy"), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(c.expected), std::string::npos) << t.status().message();
  }
  std::string fortran = good;
  fortran.replace(fortran.find("False"), 5, "True ");
  EXPECT_NE(parse_npy(fortran, "f.npy").status().message().find("Fortran"), std::string::npos);
  std::string big_endian = good;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  EXPECT_NE(parse_npy(big_endian, "b.npy").status().message().find("big-endian"), std::string::npos);
}

TEST(Npy, AbsurdShapeIsRefusedNotAllocated) {
  std::string bytes = numpy_written_2x3();
  bytes.replace(bytes.find("(2, 3)"), 6, "(100000, 100000, 100000)");
  auto t = parse_npy(bytes, "huge.npy");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("GiB"), std::string::npos) << t.status().message();
}

TEST(Npy, MissingFileNamesThePath) {
  auto t = read_npy("/nonexistent/dir/x.npy");
  ASSERT_FALSE(t.is_ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
  EXPECT_NE(t.status().message().find("/nonexistent/dir/x.npy"), std::string::npos);
}

TEST(Npy, WriteIsAtomicAndLeavesNoTemporaryFiles) {
  std::string path = temp_path("atomic.npy");
  ASSERT_TRUE(write_npy(path, Tensor::from_floats({2}, {1, 2})).is_ok());
  auto back = read_npy(path);
  ASSERT_TRUE(back.is_ok());
  EXPECT_EQ(back->to_doubles(), (std::vector<double>{1, 2}));
  for (const auto& entry : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path()))
    EXPECT_EQ(entry.path().string().find(path + ".tmp"), std::string::npos) << entry.path();
  std::filesystem::remove(path);
  EXPECT_FALSE(write_file_atomically("/nonexistent/dir/y.npy", "x").is_ok());
}

}  // namespace
}  // namespace faultline
