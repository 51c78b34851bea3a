#include "engine/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace faultline {

namespace {
std::string os_error(const std::string& path, const char* what) {
  return path + ": " + what + ": " + std::strerror(errno);
}
}  // namespace

Result<std::string> read_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(os_error(path, "cannot open"));
  }
  if (S_ISDIR(info.st_mode)) return invalid_argument(path + ": is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error(os_error(path, "cannot open"));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return io_error(os_error(path, "read failed"));
  return content.str();
}

Status write_file_atomically(const std::string& path, std::string_view bytes) {
  std::string temp = path + ".tmp-XXXXXX";
  int fd = ::mkstemp(temp.data());
  if (fd < 0) return io_error(os_error(path, "cannot create"));
  size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status status = io_error(os_error(path, "write failed"));
      ::close(fd);
      ::unlink(temp.c_str());
      return status;
    }
    written += static_cast<size_t>(n);
  }
  ::fchmod(fd, 0644);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    Status status = io_error(os_error(path, "write failed"));
    ::unlink(temp.c_str());
    return status;
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    Status status = io_error(os_error(path, "cannot rename into place"));
    ::unlink(temp.c_str());
    return status;
  }
  return Status::ok();
}

}  // namespace faultline
