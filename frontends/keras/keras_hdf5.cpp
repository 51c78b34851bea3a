#include "frontends/keras/keras_hdf5.h"

#include <filesystem>
#include <utility>

#include "frontends/hdf5/hdf5_handles.h"

namespace faultline::keras {

namespace {

// Reads the string(s) of an attribute whose type is a fixed- or variable-length string.
Result<std::vector<std::string>> read_strings(hid_t attribute, const std::string& where) {
  Hdf5Handle type(H5Aget_type(attribute), H5Tclose);
  Hdf5Handle space(H5Aget_space(attribute), H5Sclose);
  if (!type.valid() || !space.valid()) return invalid_argument(where + ": cannot read the attribute's type");
  const hssize_t count = H5Sget_simple_extent_npoints(space.get());
  if (count < 0) return invalid_argument(where + ": cannot read the attribute's size");
  if (count == 0) return std::vector<std::string>{};  // h5py writes an empty list as an empty float array
  if (H5Tget_class(type.get()) != H5T_STRING) return invalid_argument(where + ": is not a string attribute");
  std::vector<std::string> out;
  if (H5Tis_variable_str(type.get()) > 0) {
    std::vector<char*> pointers(static_cast<size_t>(count), nullptr);
    Hdf5Handle memory(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(memory.get(), H5T_VARIABLE);
    H5Tset_cset(memory.get(), H5Tget_cset(type.get()));
    if (count > 0 && H5Aread(attribute, memory.get(), pointers.data()) < 0)
      return io_error(where + ": cannot read the attribute");
    for (char* p : pointers) out.emplace_back(p ? p : "");
    if (count > 0) H5Dvlen_reclaim(memory.get(), space.get(), H5P_DEFAULT, pointers.data());
    return out;
  }
  const size_t width = H5Tget_size(type.get());
  std::string buffer(width * static_cast<size_t>(count), '\0');
  if (count > 0 && H5Aread(attribute, type.get(), buffer.data()) < 0)
    return io_error(where + ": cannot read the attribute");
  for (hssize_t i = 0; i < count; ++i) {
    std::string s = buffer.substr(static_cast<size_t>(i) * width, width);
    s.erase(s.find_last_not_of('\0') + 1);  // null padding
    out.push_back(std::move(s));
  }
  return out;
}

herr_t collect_member(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}

}  // namespace

Hdf5File::Hdf5File(hid_t id, std::string name) : id_(id), name_(std::move(name)) {}

Hdf5File::Hdf5File(Hdf5File&& other) noexcept
    : id_(std::exchange(other.id_, -1)),
      name_(std::move(other.name_)),
      saved_printer_(other.saved_printer_),
      saved_printer_data_(other.saved_printer_data_) {}

Hdf5File::~Hdf5File() {
  if (id_ < 0) return;
  H5Fclose(id_);
  H5Eset_auto2(H5E_DEFAULT, saved_printer_, saved_printer_data_);
}

Result<Hdf5File> Hdf5File::open(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found(path + ": no such file");
  if (std::filesystem::is_directory(path, ec)) return invalid_argument(path + ": is a directory");
  H5E_auto2_t printer = nullptr;
  void* printer_data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &printer, &printer_data);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const hid_t id = H5Fis_hdf5(path.c_str()) > 0 ? H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT) : -1;
  if (id < 0) {
    H5Eset_auto2(H5E_DEFAULT, printer, printer_data);
    return invalid_argument(path + ": not an HDF5 file (a Keras .h5 model is one)");
  }
  Hdf5File file(id, path);
  file.saved_printer_ = printer;
  file.saved_printer_data_ = printer_data;
  return file;
}

Result<Hdf5File> Hdf5File::open_image(const std::string& bytes, const std::string& name) {
  constexpr size_t kCoreIncrement = size_t{1} << 20;
  H5E_auto2_t printer = nullptr;
  void* printer_data = nullptr;
  H5Eget_auto2(H5E_DEFAULT, &printer, &printer_data);
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t id = -1;
  {
    Hdf5Handle access(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (access.valid() && H5Pset_fapl_core(access.get(), kCoreIncrement, /*backing_store=*/0) >= 0 &&
        H5Pset_file_image(access.get(), const_cast<char*>(bytes.data()), bytes.size()) >= 0)
      id = H5Fopen(name.c_str(), H5F_ACC_RDONLY, access.get());
  }
  if (id < 0) {
    H5Eset_auto2(H5E_DEFAULT, printer, printer_data);
    return invalid_argument(name + ": not an HDF5 file");
  }
  Hdf5File file(id, name);
  file.saved_printer_ = printer;
  file.saved_printer_data_ = printer_data;
  return file;
}

std::string Hdf5File::where(const std::string& path) const {
  return name_ + ": '" + path + "'";
}

bool Hdf5File::exists(const std::string& path) const {
  // H5Lexists checks one link at a time: walk the path so that a missing parent is "no" rather than an error.
  std::string prefix;
  size_t begin = 0;
  while (begin < path.size()) {
    size_t end = path.find('/', begin);
    if (end == std::string::npos) end = path.size();
    if (end > begin) {
      if (!prefix.empty()) prefix += '/';
      prefix.append(path, begin, end - begin);
      if (H5Lexists(id_, prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    }
    begin = end + 1;
  }
  return true;
}

Result<std::vector<std::string>> Hdf5File::members(const std::string& path) const {
  if (!exists(path)) return not_found(where(path) + " does not exist");
  Hdf5Handle group(H5Gopen2(id_, path.c_str(), H5P_DEFAULT), H5Gclose);
  if (!group.valid()) return invalid_argument(where(path) + " is not a group");
  std::vector<std::string> names;
  if (H5Literate(group.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_member, &names) < 0)
    return io_error(where(path) + ": cannot list its members");
  return names;
}

Result<std::string> Hdf5File::string_attribute(const std::string& path, const std::string& attribute) const {
  const std::string what = where(path) + ": attribute '" + attribute + "'";
  if (path != "/" && !exists(path)) return not_found(where(path) + " does not exist");
  if (H5Aexists_by_name(id_, path.c_str(), attribute.c_str(), H5P_DEFAULT) <= 0) return not_found(what + " is missing");
  Hdf5Handle handle(H5Aopen_by_name(id_, path.c_str(), attribute.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!handle.valid()) return io_error(what + ": cannot open it");
  FL_ASSIGN_OR_RETURN(std::vector<std::string> strings, read_strings(handle.get(), what));
  if (strings.size() != 1) return invalid_argument(what + ": expected one string");
  return strings.front();
}

Result<std::vector<std::string>> Hdf5File::string_list_attribute(const std::string& path,
                                                                 const std::string& attribute) const {
  const std::string what = where(path) + ": attribute '" + attribute + "'";
  if (path != "/" && !exists(path)) return not_found(where(path) + " does not exist");
  if (H5Aexists_by_name(id_, path.c_str(), attribute.c_str(), H5P_DEFAULT) <= 0) return std::vector<std::string>{};
  Hdf5Handle handle(H5Aopen_by_name(id_, path.c_str(), attribute.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (!handle.valid()) return io_error(what + ": cannot open it");
  return read_strings(handle.get(), what);
}

Result<Tensor> Hdf5File::float_dataset(const std::string& path) const {
  const std::string what = where(path);
  if (!exists(path)) return not_found(what + " does not exist");
  Hdf5Handle dataset(H5Dopen2(id_, path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!dataset.valid()) return invalid_argument(what + " is not a dataset");
  Hdf5Handle type(H5Dget_type(dataset.get()), H5Tclose);
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != H5T_FLOAT && type_class != H5T_INTEGER) return unsupported(what + " does not hold numbers");
  Hdf5Handle space(H5Dget_space(dataset.get()), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0) return invalid_argument(what + ": cannot read its shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  Result<Tensor> out = Tensor::allocate(DType::kFloat32, Shape(dims.begin(), dims.end()));
  if (!out.is_ok()) return out.status().with_context(what);
  if (out->numel() > 0 && H5Dread(dataset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->raw()) < 0)
    return io_error(what + ": cannot read it");
  return out;
}

}  // namespace faultline::keras
