#pragma once
// A whole file mapped read-only into memory (POSIX mmap): safetensors files
// are read in place, so a multi-GB checkpoint costs no copy until a tensor
// is converted. Also used for the small JSON files of a Hugging Face folder.

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>

#include "iglens/error.hpp"

namespace iglens::detail {

class ReadOnlyMapping {
 public:
  // `path` is also the name used in messages.
  static ReadOnlyMapping open(const std::string& path) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    require(descriptor >= 0, "{}: cannot open ({})", path, std::strerror(errno));
    // Closed on every path out of here; the mapping outlives the descriptor.
    struct Closer {
      int descriptor;
      ~Closer() { ::close(descriptor); }
    } closer{descriptor};
    struct stat status {};
    require(::fstat(descriptor, &status) == 0, "{}: cannot read its size ({})", path, std::strerror(errno));
    require(!S_ISDIR(status.st_mode), "{}: is a folder, not a file", path);
    require(S_ISREG(status.st_mode), "{}: is not a regular file", path);
    ReadOnlyMapping mapping;
    mapping.size_ = static_cast<std::size_t>(status.st_size);
    if (mapping.size_ == 0) return mapping;  // mmap refuses length 0
    void* address = ::mmap(nullptr, mapping.size_, PROT_READ, MAP_PRIVATE, descriptor, 0);
    require(address != MAP_FAILED, "{}: cannot map {} bytes into memory ({})", path, mapping.size_,
            std::strerror(errno));
    mapping.data_ = static_cast<const unsigned char*>(address);
    return mapping;
  }

  ReadOnlyMapping() = default;
  ReadOnlyMapping(ReadOnlyMapping&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  ReadOnlyMapping& operator=(ReadOnlyMapping&& other) noexcept {
    if (this != &other) {
      unmap();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }
  ReadOnlyMapping(const ReadOnlyMapping&) = delete;
  ReadOnlyMapping& operator=(const ReadOnlyMapping&) = delete;
  ~ReadOnlyMapping() { unmap(); }

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  void unmap() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace iglens::detail
