#include "frontends/nir/nir_file.h"

#include <hdf5.h>

#include <filesystem>

#include "frontends/hdf5/hdf5_handles.h"

namespace faultline::nir {

namespace {

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {}

  Result<NirNode> read_root() {
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) return not_found(path_ + ": no such file");
    if (std::filesystem::is_directory(path_, ec)) return invalid_argument(path_ + ": is a directory");
    if (H5Fis_hdf5(path_.c_str()) <= 0) return invalid_argument(path_ + ": not an HDF5 file (a NIR file is HDF5)");
    Hdf5Handle file(H5Fopen(path_.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
    if (!file.valid()) return io_error(path_ + ": cannot open the HDF5 file");
    if (H5Lexists(file.get(), "node", H5P_DEFAULT) <= 0)
      return invalid_argument(path_ + ": no group 'node' (not a NIR file written by nir.write)");
    Hdf5Handle root(H5Gopen2(file.get(), "node", H5P_DEFAULT), H5Gclose);
    if (!root.valid()) return invalid_argument(path_ + ": 'node' is not a group");
    FL_ASSIGN_OR_RETURN(NirNode graph, read_node(root.get(), "/node", ""));
    if (graph.type != "NIRGraph")
      return invalid_argument(path_ + ": the root node has type '" + graph.type + "', expected 'NIRGraph'");
    return graph;
  }

 private:
  Status error(const std::string& where, const std::string& what) const {
    return invalid_argument(path_ + ": " + where + ": " + what);
  }

  Result<std::vector<std::string>> member_names(hid_t group, const std::string& where) const {
    H5G_info_t info;
    if (H5Gget_info(group, &info) < 0) return error(where, "cannot list the group");
    std::vector<std::string> names;
    for (hsize_t i = 0; i < info.nlinks; ++i) {
      const ssize_t length = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nullptr, 0, H5P_DEFAULT);
      if (length < 0) return error(where, "cannot read a member name");
      std::string name(static_cast<size_t>(length), '\0');
      H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, name.data(), name.size() + 1, H5P_DEFAULT);
      names.push_back(std::move(name));
    }
    return names;
  }

  Result<std::vector<std::string>> read_strings(hid_t dataset, hid_t type, hid_t space,
                                                const std::string& where) const {
    const hssize_t count = H5Sget_simple_extent_npoints(space);
    if (count < 0) return error(where, "cannot read its size");
    std::vector<std::string> out;
    if (count == 0) return out;
    if (H5Tis_variable_str(type) > 0) {
      Hdf5Handle memory_type(H5Tcopy(H5T_C_S1), H5Tclose);
      H5Tset_size(memory_type.get(), H5T_VARIABLE);
      H5Tset_cset(memory_type.get(), H5Tget_cset(type));
      std::vector<char*> pointers(static_cast<size_t>(count), nullptr);
      if (H5Dread(dataset, memory_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()) < 0)
        return error(where, "cannot read the strings");
      for (char* p : pointers) out.emplace_back(p ? p : "");
      H5Dvlen_reclaim(memory_type.get(), space, H5P_DEFAULT, pointers.data());
      return out;
    }
    const size_t size = H5Tget_size(type);
    Hdf5Handle memory_type(H5Tcopy(type), H5Tclose);
    std::string buffer(static_cast<size_t>(count) * size, '\0');
    if (H5Dread(dataset, memory_type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.data()) < 0)
      return error(where, "cannot read the strings");
    for (hssize_t i = 0; i < count; ++i) {
      std::string s = buffer.substr(static_cast<size_t>(i) * size, size);
      while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
      out.push_back(std::move(s));
    }
    return out;
  }

  Result<Shape> shape_of(hid_t space, const std::string& where) const {
    const int rank = H5Sget_simple_extent_ndims(space);
    if (rank < 0) return error(where, "cannot read its shape");
    std::vector<hsize_t> dims(static_cast<size_t>(rank));
    if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
    return Shape(dims.begin(), dims.end());
  }

  // Reads dataset `name` of `group` into `node` (type, a numeric array or a string), under key `key`.
  Status read_dataset(hid_t group, const std::string& name, const std::string& key, const std::string& where,
                      NirNode& node) const {
    Hdf5Handle dataset(H5Dopen2(group, name.c_str(), H5P_DEFAULT), H5Dclose);
    if (!dataset.valid()) return error(where, "cannot open the dataset");
    Hdf5Handle type(H5Dget_type(dataset.get()), H5Tclose);
    Hdf5Handle space(H5Dget_space(dataset.get()), H5Sclose);
    FL_ASSIGN_OR_RETURN(Shape shape, shape_of(space.get(), where));
    switch (H5Tget_class(type.get())) {
      case H5T_STRING: {
        FL_ASSIGN_OR_RETURN(std::vector<std::string> strings,
                            read_strings(dataset.get(), type.get(), space.get(), where));
        if (key == "type") {
          if (strings.size() != 1) return error(where, "expected one string");
          node.type = strings[0];
        } else if (key == "edges") {
          if (!strings.empty() && (shape.size() != 2 || shape[1] != 2))
            return error(where, "expected (source, target) string pairs, got shape " + shape_to_string(shape));
          for (size_t i = 0; i + 1 < strings.size(); i += 2) node.edges.emplace_back(strings[i], strings[i + 1]);
        } else {
          std::string joined;
          for (size_t i = 0; i < strings.size(); ++i) joined += (i ? "," : "") + strings[i];
          node.strings[key] = joined;
        }
        return Status::ok();
      }
      case H5T_INTEGER:
      case H5T_FLOAT: {
        const bool is_float = H5Tget_class(type.get()) == H5T_FLOAT;
        Result<Tensor> tensor = Tensor::allocate(is_float ? DType::kFloat64 : DType::kInt64, shape);
        if (!tensor.is_ok()) return tensor.status().with_context(path_ + ": " + where);
        if (tensor->numel() > 0 && H5Dread(dataset.get(), is_float ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, H5S_ALL,
                                           H5S_ALL, H5P_DEFAULT, tensor->raw()) < 0)
          return error(where, "cannot read the values (a compression filter this HDF5 library lacks?)");
        node.arrays[key] = std::move(tensor).value();
        return Status::ok();
      }
      default:
        return Status::ok();  // metadata of other kinds (booleans, compound) carries nothing faultline reads
    }
  }

  Result<NirNode> read_node(hid_t group, const std::string& where, const std::string& name) const {
    NirNode node;
    node.name = name;
    FL_ASSIGN_OR_RETURN(std::vector<std::string> members, member_names(group, where));
    for (const std::string& member : members) {
      const std::string member_where = where + "/" + member;
      H5O_info_t info;
      if (H5Oget_info_by_name(group, member.c_str(), &info, H5P_DEFAULT) < 0)
        return error(member_where, "cannot inspect it");
      if (info.type == H5O_TYPE_DATASET) {
        FL_RETURN_IF_ERROR(read_dataset(group, member, member, member_where, node));
        continue;
      }
      if (info.type != H5O_TYPE_GROUP) continue;
      Hdf5Handle child(H5Gopen2(group, member.c_str(), H5P_DEFAULT), H5Gclose);
      if (!child.valid()) return error(member_where, "cannot open the group");
      if (member == "nodes") {
        FL_ASSIGN_OR_RETURN(std::vector<std::string> names, member_names(child.get(), member_where));
        for (const std::string& child_name : names) {
          Hdf5Handle node_group(H5Gopen2(child.get(), child_name.c_str(), H5P_DEFAULT), H5Gclose);
          if (!node_group.valid()) return error(member_where + "/" + child_name, "is not a group (a NIR node)");
          FL_ASSIGN_OR_RETURN(NirNode child_node,
                              read_node(node_group.get(), member_where + "/" + child_name, child_name));
          node.nodes.push_back(std::move(child_node));
        }
        continue;
      }
      // A field stored as a group (input_type/input, metadata/...): its datasets, one level deep.
      FL_ASSIGN_OR_RETURN(std::vector<std::string> fields, member_names(child.get(), member_where));
      for (const std::string& field : fields) {
        H5O_info_t field_info;
        if (H5Oget_info_by_name(child.get(), field.c_str(), &field_info, H5P_DEFAULT) < 0 ||
            field_info.type != H5O_TYPE_DATASET)
          continue;
        FL_RETURN_IF_ERROR(read_dataset(child.get(), field, member + "/" + field, member_where + "/" + field, node));
      }
    }
    if (node.type.empty()) return error(where, "has no 'type' dataset (every NIR node names its type)");
    return node;
  }

  std::string path_;
};

}  // namespace

Result<NirNode> read_nir_file(const std::string& path) {
  QuietHdf5Errors quiet;
  return Reader(path).read_root();
}

}  // namespace faultline::nir
