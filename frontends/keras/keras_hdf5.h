// Reading the HDF5 side of Keras files through the HDF5 C API: a file opened from disk or from bytes in
// memory (model.weights.h5 inside a .keras zip, opened with the core driver and a file image, so nothing is
// written to disk), string attributes (fixed-length or variable-length, as h5py writes them), and float
// datasets read as float32. The HDF5 error printer is silenced while a file is read; every failure comes
// back as a Status whose message starts with `where` (the file, then the object inside it).
#pragma once

#include <hdf5.h>

#include <string>
#include <vector>

#include "engine/status.h"
#include "engine/tensor.h"

namespace faultline::keras {

// An open HDF5 file (closed, and the error printer restored, when destroyed). Move-only.
class Hdf5File {
 public:
  static Result<Hdf5File> open(const std::string& path);
  // `bytes` is copied by the library; `name` is used in messages.
  static Result<Hdf5File> open_image(const std::string& bytes, const std::string& name);
  Hdf5File(Hdf5File&& other) noexcept;
  Hdf5File& operator=(Hdf5File&&) = delete;
  Hdf5File(const Hdf5File&) = delete;
  ~Hdf5File();

  hid_t id() const { return id_; }
  const std::string& name() const { return name_; }

  // Whether the object at `path` (slash-separated, relative to the root) exists.
  bool exists(const std::string& path) const;
  // The names of the members of group `path`, in the library's name order.
  Result<std::vector<std::string>> members(const std::string& path) const;
  // A string attribute of the object at `path` ("/" for the root).
  Result<std::string> string_attribute(const std::string& path, const std::string& attribute) const;
  // A one-dimensional array-of-strings attribute (Keras' layer_names / weight_names); absent = empty list.
  Result<std::vector<std::string>> string_list_attribute(const std::string& path, const std::string& attribute) const;
  // The dataset at `path` as float32 (any integer or float type, converted by the library).
  Result<Tensor> float_dataset(const std::string& path) const;

 private:
  Hdf5File(hid_t id, std::string name);
  std::string where(const std::string& path) const;

  hid_t id_ = -1;
  std::string name_;
  H5E_auto2_t saved_printer_ = nullptr;
  void* saved_printer_data_ = nullptr;
};

}  // namespace faultline::keras
