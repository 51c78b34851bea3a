#include "faults/campaign_outputs.h"

#include <fcntl.h>
#include <hdf5.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "frontends/hdf5/hdf5_handles.h"

namespace faultline {

namespace {

static_assert(sizeof(hid_t) == sizeof(int64_t), "OutputsReader keeps hid_t values as int64_t");

Status errno_error(const std::string& path, const std::string& what) {
  return io_error(path + ": " + what + ": " + std::strerror(errno));
}

// Dataset creation properties without modification times in the object headers, so that the same outputs
// always give the same bytes.
hid_t untimed_dataset_properties() {
  const hid_t properties = H5Pcreate(H5P_DATASET_CREATE);
  if (properties >= 0) H5Pset_obj_track_times(properties, false);
  return properties;
}

std::vector<hsize_t> dims_of(const Shape& shape) { return std::vector<hsize_t>(shape.begin(), shape.end()); }

Status write_dataset(hid_t file, const char* name, hid_t file_type, hid_t memory_type, const Shape& shape,
                     const void* data, const std::string& path) {
  const std::vector<hsize_t> dims = dims_of(shape);
  Hdf5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Hdf5Handle properties(untimed_dataset_properties(), H5Pclose);
  Hdf5Handle dataset(H5Dcreate2(file, name, file_type, space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT), H5Dclose);
  if (!space.valid() || !dataset.valid()) return io_error(path + ": cannot create the dataset '" + name + "'");
  if (data && H5Dwrite(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0)
    return io_error(path + ": cannot write the dataset '" + name + "'");
  return Status::ok();
}

Status fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
  if (fd < 0) return errno_error(path, "cannot open");
  const int result = ::fsync(fd);
  ::close(fd);
  if (result != 0 && !directory) return errno_error(path, "cannot fsync");
  return Status::ok();
}

// Writes the HDF5 file at `tmp` (see write_outputs_h5).
Status write_h5(const std::string& tmp, const std::string& path, const Tensor& golden, int64_t faults,
                const OutputsRowSource& row_source) {
  Hdf5Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) return io_error(tmp + ": cannot create the HDF5 file");
  FL_RETURN_IF_ERROR(
      write_dataset(file.get(), "golden", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, golden.shape(), golden.raw(), path));

  Shape faulty_shape = golden.shape();
  faulty_shape.insert(faulty_shape.begin(), faults);
  std::vector<hsize_t> dims = dims_of(faulty_shape);
  Hdf5Handle space(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), H5Sclose);
  Hdf5Handle properties(untimed_dataset_properties(), H5Pclose);
  Hdf5Handle faulty(H5Dcreate2(file.get(), "faulty", H5T_IEEE_F32LE, space.get(), H5P_DEFAULT, properties.get(), H5P_DEFAULT),
            H5Dclose);
  if (!space.valid() || !faulty.valid()) return io_error(path + ": cannot create the dataset 'faulty'");
  const hsize_t row = static_cast<hsize_t>(golden.numel());
  Hdf5Handle memory(H5Screate_simple(1, &row, nullptr), H5Sclose);
  std::vector<float> buffer(static_cast<size_t>(golden.numel()));
  std::vector<int64_t> injections(static_cast<size_t>(faults));
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  count[0] = 1;
  for (int64_t f = 0; f < faults; ++f) {
    FL_ASSIGN_OR_RETURN(injections[static_cast<size_t>(f)], row_source(f, buffer));
    start[0] = static_cast<hsize_t>(f);
    if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0 ||
        H5Dwrite(faulty.get(), H5T_NATIVE_FLOAT, memory.get(), space.get(), H5P_DEFAULT, buffer.data()) < 0)
      return io_error(path + ": cannot write row " + std::to_string(f) + " of the dataset 'faulty'");
  }
  FL_RETURN_IF_ERROR(write_dataset(file.get(), "injection", H5T_STD_I64LE, H5T_NATIVE_INT64, {faults},
                                   injections.data(), path));
  if (H5Fclose(file.release()) < 0) return io_error(tmp + ": cannot close the HDF5 file");
  return Status::ok();
}

}  // namespace

Result<OutputsLog> OutputsLog::open(const std::string& path, int64_t row_floats,
                                    std::span<const int64_t> expected_injections) {
  const uint64_t record = sizeof(int64_t) + sizeof(float) * static_cast<uint64_t>(row_floats);
  std::error_code ec;
  const uint64_t size = std::filesystem::exists(path, ec) ? std::filesystem::file_size(path, ec) : 0;
  if (ec) return io_error(path + ": cannot read its size: " + ec.message());
  const uint64_t records = size / record;
  if (records < expected_injections.size()) {
    return invalid_argument(path + ": holds the outputs of " + std::to_string(records) + " faults, but summary.csv has " +
                            std::to_string(expected_injections.size()) +
                            " rows (was the campaign started without --save-outputs?); choose another output folder");
  }
  if (!expected_injections.empty()) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno_error(path, "cannot open");
    for (size_t r = 0; r < expected_injections.size(); ++r) {
      int64_t injection = 0;
      if (::pread(fd, &injection, sizeof(injection), static_cast<off_t>(r * record)) != sizeof(injection)) {
        ::close(fd);
        return errno_error(path, "cannot read record " + std::to_string(r));
      }
      if (injection != expected_injections[r]) {
        ::close(fd);
        return invalid_argument(path + ": record " + std::to_string(r) + " holds the outputs of Injection " +
                                std::to_string(injection) + ", but summary.csv's row " + std::to_string(r + 1) +
                                " is Injection " + std::to_string(expected_injections[r]));
      }
    }
    ::close(fd);
  }
  FL_ASSIGN_OR_RETURN(AppendFile file, AppendFile::open(path, expected_injections.size() * record));
  return OutputsLog(std::move(file), row_floats);
}

Status OutputsLog::append(int64_t injection, const Tensor& faulty) {
  if (faulty.dtype() != DType::kFloat32 || faulty.numel() != row_floats_)
    return internal_error("outputs log: a row of " + std::to_string(faulty.numel()) + " values for records of " +
                          std::to_string(row_floats_));
  std::string record(sizeof(int64_t) + faulty.nbytes(), '\0');
  std::memcpy(record.data(), &injection, sizeof(injection));
  std::memcpy(record.data() + sizeof(injection), faulty.raw(), faulty.nbytes());
  return file_.append(record);
}

Status write_outputs_h5(const std::string& path, const Tensor& golden, int64_t faults,
                        const OutputsRowSource& row_source) {
  if (golden.dtype() != DType::kFloat32) return invalid_argument(path + ": the golden outputs are not float32");
  const QuietHdf5Errors quiet;
  const std::string tmp = path + ".tmp";
  Status status = write_h5(tmp, path, golden, faults, row_source);
  if (status.is_ok()) status = fsync_path(tmp, false);
  std::error_code ec;
  if (status.is_ok()) {
    std::filesystem::rename(tmp, path, ec);
    if (ec) status = io_error(path + ": cannot rename " + tmp + " to it: " + ec.message());
  }
  if (!status.is_ok()) {
    std::filesystem::remove(tmp, ec);
    return status;
  }
  const std::string folder = std::filesystem::path(path).parent_path().string();
  return fsync_path(folder.empty() ? "." : folder, true);
}

Status write_outputs_h5_from_log(const std::string& path, const Tensor& golden, const std::string& log_path,
                                 int64_t faults) {
  const int fd = ::open(log_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error(log_path, "cannot open");
  const size_t record = sizeof(int64_t) + golden.nbytes();
  std::vector<std::byte> bytes(record);
  const Status status = write_outputs_h5(path, golden, faults, [&](int64_t f, std::span<float> dst) -> Result<int64_t> {
    const off_t offset = static_cast<off_t>(static_cast<uint64_t>(f) * record);
    if (::pread(fd, bytes.data(), record, offset) != static_cast<ssize_t>(record))
      return io_error(log_path + ": record " + std::to_string(f) + " is missing or short");
    int64_t injection = 0;
    std::memcpy(&injection, bytes.data(), sizeof(injection));
    std::memcpy(dst.data(), bytes.data() + sizeof(injection), dst.size_bytes());
    return injection;
  });
  ::close(fd);
  return status;
}

Result<OutputsReader> OutputsReader::open(const std::string& path) {
  const QuietHdf5Errors quiet;
  if (H5Fis_hdf5(path.c_str()) <= 0) return invalid_argument(path + ": missing or not an HDF5 file");
  OutputsReader reader;
  reader.path_ = path;
  Hdf5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.valid()) return io_error(path + ": cannot open the HDF5 file");
  auto open_dataset = [&](const char* name, std::vector<hsize_t>& dims) -> Result<hid_t> {
    if (H5Lexists(file.get(), name, H5P_DEFAULT) <= 0) return not_found(path + ": has no dataset '" + name + "'");
    const hid_t dataset = H5Dopen2(file.get(), name, H5P_DEFAULT);
    if (dataset < 0) return invalid_argument(path + ": '" + name + "' is not a dataset");
    Hdf5Handle space(H5Dget_space(dataset), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(space.get());
    dims.assign(static_cast<size_t>(std::max(rank, 0)), 0);
    if (rank < 0 || H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
      H5Dclose(dataset);
      return invalid_argument(path + ": cannot read the shape of '" + name + "'");
    }
    return dataset;
  };
  std::vector<hsize_t> golden_dims, faulty_dims, injection_dims;
  FL_ASSIGN_OR_RETURN(hid_t golden_id, open_dataset("golden", golden_dims));
  const Hdf5Handle golden(golden_id, H5Dclose);
  FL_ASSIGN_OR_RETURN(hid_t injection_id, open_dataset("injection", injection_dims));
  const Hdf5Handle injection(injection_id, H5Dclose);
  FL_ASSIGN_OR_RETURN(hid_t faulty_id, open_dataset("faulty", faulty_dims));
  Hdf5Handle faulty(faulty_id, H5Dclose);

  const Shape golden_shape(golden_dims.begin(), golden_dims.end());
  Result<Tensor> golden_tensor = Tensor::allocate(DType::kFloat32, golden_shape);
  if (!golden_tensor.is_ok()) return golden_tensor.status().with_context(path + ": golden");
  reader.golden_ = std::move(golden_tensor).value();
  if (reader.golden_.numel() > 0 &&
      H5Dread(golden.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, reader.golden_.raw()) < 0)
    return io_error(path + ": cannot read the dataset 'golden'");
  std::vector<hsize_t> expected = golden_dims;
  expected.insert(expected.begin(), injection_dims.empty() ? 0 : injection_dims[0]);
  if (injection_dims.size() != 1 || faulty_dims != expected)
    return invalid_argument(path + ": 'faulty' is not [faults, <golden's shape>] with one 'injection' per fault");
  reader.injections_.resize(static_cast<size_t>(injection_dims[0]));
  if (!reader.injections_.empty() &&
      H5Dread(injection.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, reader.injections_.data()) < 0)
    return io_error(path + ": cannot read the dataset 'injection'");
  reader.faulty_ = faulty.release();
  reader.file_ = file.release();
  return reader;
}

OutputsReader::OutputsReader(OutputsReader&& other) noexcept
    : path_(std::move(other.path_)),
      file_(other.file_),
      faulty_(other.faulty_),
      golden_(std::move(other.golden_)),
      injections_(std::move(other.injections_)) {
  other.file_ = -1;
  other.faulty_ = -1;
}

OutputsReader::~OutputsReader() {
  if (faulty_ >= 0) H5Dclose(faulty_);
  if (file_ >= 0) H5Fclose(file_);
}

Status OutputsReader::read_row(int64_t f, std::span<float> dst) const {
  if (f < 0 || f >= faults() || static_cast<int64_t>(dst.size()) != golden_.numel())
    return internal_error(path_ + ": row " + std::to_string(f) + " is out of range");
  const QuietHdf5Errors quiet;
  Hdf5Handle space(H5Dget_space(faulty_), H5Sclose);
  std::vector<hsize_t> start(static_cast<size_t>(golden_.rank()) + 1, 0), count(start.size(), 1);
  start[0] = static_cast<hsize_t>(f);
  for (int d = 0; d < golden_.rank(); ++d) count[static_cast<size_t>(d) + 1] = static_cast<hsize_t>(golden_.dim(d));
  const hsize_t row = dst.size();
  Hdf5Handle memory(H5Screate_simple(1, &row, nullptr), H5Sclose);
  if (H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr) < 0 ||
      H5Dread(faulty_, H5T_NATIVE_FLOAT, memory.get(), space.get(), H5P_DEFAULT, dst.data()) < 0)
    return io_error(path_ + ": cannot read row " + std::to_string(f) + " of the dataset 'faulty'");
  return Status::ok();
}

Result<SavedOutputs> read_outputs_h5(const std::string& path) {
  FL_ASSIGN_OR_RETURN(OutputsReader reader, OutputsReader::open(path));
  SavedOutputs saved;
  saved.golden = reader.golden().clone();
  saved.injections = reader.injections();
  Shape shape = saved.golden.shape();
  shape.insert(shape.begin(), reader.faults());
  FL_ASSIGN_OR_RETURN(saved.faulty, Tensor::allocate(DType::kFloat32, shape));
  const size_t row = static_cast<size_t>(saved.golden.numel());
  for (int64_t f = 0; f < reader.faults(); ++f)
    FL_RETURN_IF_ERROR(reader.read_row(f, {saved.faulty.data<float>() + static_cast<size_t>(f) * row, row}));
  return saved;
}

}  // namespace faultline
