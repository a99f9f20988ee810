#pragma once
// A whole file mapped read-only into memory, unmapped when the owner goes.
// Model files are read in place: nothing is copied until dequantization.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "iglens/error.hpp"

namespace iglens::detail {

class MappedFile {
 public:
  // Errors name the file: missing, unreadable, a folder, not a regular file, or empty.
  static MappedFile open(const std::string& path) {
    struct stat status {};
    // stat before open: opening a FIFO for reading would wait for a writer.
    if (::stat(path.c_str(), &status) != 0) {
      fail("model file '{}' cannot be opened: {}", path, std::strerror(errno));
    }
    require(!S_ISDIR(status.st_mode), "model file '{}' is a folder, not a file", path);
    require(S_ISREG(status.st_mode), "model file '{}' is not a regular file", path);
    require(status.st_size > 0, "model file '{}' is empty", path);

    const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) fail("model file '{}' cannot be opened: {}", path, std::strerror(errno));
    const auto size = static_cast<std::size_t>(status.st_size);
    void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, descriptor, 0);
    const int map_error = errno;
    ::close(descriptor);  // the mapping keeps the file
    if (address == MAP_FAILED) {
      fail("model file '{}' cannot be mapped into memory: {}", path, std::strerror(map_error));
    }
    return MappedFile(static_cast<const std::uint8_t*>(address), size);
  }

  MappedFile(MappedFile&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  MappedFile& operator=(MappedFile&& other) noexcept {
    if (this != &other) {
      unmap();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() { unmap(); }

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  MappedFile(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  void unmap() {
    if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace iglens::detail
