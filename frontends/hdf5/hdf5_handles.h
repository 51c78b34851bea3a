// Scope guards for the HDF5 C API, shared by every reader and writer of HDF5 files (datasets, Keras, NIR,
// campaign outputs): identifiers closed at scope exit, and the library's error-stack printer silenced while
// errors come back as Status.
#pragma once

#include <hdf5.h>

namespace faultline {

// Closes an HDF5 identifier (file, group, dataset, dataspace, type, attribute, property list) with the given
// closer at scope exit; an invalid (negative) identifier is left alone.
class Hdf5Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Hdf5Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Hdf5Handle() {
    if (id_ >= 0) closer_(id_);
  }
  Hdf5Handle(const Hdf5Handle&) = delete;
  Hdf5Handle& operator=(const Hdf5Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Gives the identifier up: the caller closes it.
  hid_t release() {
    const hid_t id = id_;
    id_ = -1;
    return id;
  }

 private:
  hid_t id_;
  Closer closer_;
};

// Silences the HDF5 error-stack printer while alive and restores the previous one afterwards.
class QuietHdf5Errors {
 public:
  QuietHdf5Errors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietHdf5Errors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietHdf5Errors(const QuietHdf5Errors&) = delete;
  QuietHdf5Errors& operator=(const QuietHdf5Errors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

}  // namespace faultline
