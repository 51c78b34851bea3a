#include "frontends/keras/keras_file.h"

#include <zip.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "frontends/keras/keras_hdf5.h"

namespace faultline::keras {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<KerasFile> read_legacy_h5(const std::string& path) {
  FL_ASSIGN_OR_RETURN(Hdf5File file, Hdf5File::open(path));
  KerasFile out;
  out.path = path;
  out.config_source = "model_config";
  Result<std::string> config = file.string_attribute("/", "model_config");
  if (!config.is_ok())
    return invalid_argument(path +
                            ": no 'model_config' attribute: not a full Keras model (a weights-only file "
                            "from save_weights cannot be loaded; save the model with model.save)");
  out.config_json = std::move(config).value();
  const std::string root = file.exists("model_weights") ? "model_weights" : "/";
  FL_ASSIGN_OR_RETURN(std::vector<std::string> layers, file.string_list_attribute(root, "layer_names"));
  for (const std::string& layer : layers) {
    const std::string group = root == "/" ? layer : root + "/" + layer;
    FL_ASSIGN_OR_RETURN(std::vector<std::string> names, file.string_list_attribute(group, "weight_names"));
    std::vector<KerasWeight>& weights = out.weights[layer];
    for (const std::string& name : names) {
      FL_ASSIGN_OR_RETURN(Tensor value, file.float_dataset(group + "/" + name));
      weights.push_back({name, std::move(value)});
    }
  }
  return out;
}

// The whole member `name` of an open archive; kNotFound when it is absent.
Result<std::string> read_zip_member(zip_t* archive, const std::string& path, const std::string& name) {
  const zip_int64_t index = zip_name_locate(archive, name.c_str(), 0);
  if (index < 0) return not_found(path + ": the archive has no '" + name + "'");
  zip_stat_t stat;
  zip_stat_init(&stat);
  if (zip_stat_index(archive, static_cast<zip_uint64_t>(index), 0, &stat) != 0 || !(stat.valid & ZIP_STAT_SIZE))
    return io_error(path + ": cannot read the size of '" + name + "'");
  std::unique_ptr<zip_file_t, int (*)(zip_file_t*)> member(
      zip_fopen_index(archive, static_cast<zip_uint64_t>(index), 0), zip_fclose);
  if (!member) return io_error(path + ": cannot open '" + name + "' in the archive");
  std::string bytes(static_cast<size_t>(stat.size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const zip_int64_t n = zip_fread(member.get(), bytes.data() + done, bytes.size() - done);
    if (n <= 0) return io_error(path + ": '" + name + "' is truncated or corrupt in the archive");
    done += static_cast<size_t>(n);
  }
  return bytes;
}

// Variables "0", "1", ... of a .keras layer, in numeric order.
Result<std::vector<KerasWeight>> read_layer_vars(const Hdf5File& file, const std::string& group) {
  FL_ASSIGN_OR_RETURN(std::vector<std::string> names, file.members(group));
  std::vector<std::pair<long, std::string>> numbered;
  for (const std::string& name : names) {
    char* end = nullptr;
    const long index = std::strtol(name.c_str(), &end, 10);
    if (name.empty() || *end != '\0' || index < 0)
      return invalid_argument(file.name() + ": '" + group + "/" + name + "' is not a numbered variable");
    numbered.emplace_back(index, name);
  }
  std::sort(numbered.begin(), numbered.end());
  std::vector<KerasWeight> out;
  for (size_t i = 0; i < numbered.size(); ++i) {
    if (numbered[i].first != static_cast<long>(i))
      return invalid_argument(file.name() + ": '" + group + "' has no variable " + std::to_string(i));
    FL_ASSIGN_OR_RETURN(Tensor value, file.float_dataset(group + "/" + numbered[i].second));
    out.push_back({"", std::move(value)});
  }
  return out;
}

Result<KerasFile> read_keras_archive(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return not_found(path + ": no such file");
  int error = 0;
  std::unique_ptr<zip_t, void (*)(zip_t*)> archive(zip_open(path.c_str(), ZIP_RDONLY, &error), zip_discard);
  if (!archive) return invalid_argument(path + ": not a zip archive (a Keras 3 .keras file is one)");
  KerasFile out;
  out.path = path;
  out.keras3 = true;
  out.config_source = "config.json";
  FL_ASSIGN_OR_RETURN(out.config_json, read_zip_member(archive.get(), path, "config.json"));
  FL_ASSIGN_OR_RETURN(std::string weights, read_zip_member(archive.get(), path, "model.weights.h5"));
  FL_ASSIGN_OR_RETURN(Hdf5File file, Hdf5File::open_image(weights, path + ": model.weights.h5"));
  if (!file.exists("layers")) return out;  // a model without weights
  FL_ASSIGN_OR_RETURN(std::vector<std::string> layers, file.members("layers"));
  for (const std::string& layer : layers) {
    const std::string vars = "layers/" + layer + "/vars";
    if (!file.exists(vars)) continue;
    FL_ASSIGN_OR_RETURN(out.weights[layer], read_layer_vars(file, vars));
  }
  return out;
}

}  // namespace

Result<KerasFile> read_keras_file(const std::string& path) {
  if (ends_with(path, ".keras")) return read_keras_archive(path);
  return read_legacy_h5(path);
}

}  // namespace faultline::keras
