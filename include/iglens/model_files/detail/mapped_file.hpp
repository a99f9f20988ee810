#pragma once
// A whole file mapped read-only into memory (POSIX mmap), unmapped when the
// owner goes. Model files are read in place: a multi-GB checkpoint costs no
// copy until a tensor is converted. GGUF, safetensors and the JSON files of a
// Hugging Face folder all read through it.

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
  // `name` is how errors name the file, e.g. "model file 'x.gguf'". An empty
  // file gives an empty mapping (mmap refuses length 0); the format decides.
  static MappedFile open(const std::string& path, const std::string& name) {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is then refused as not a regular file).
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    require(descriptor >= 0, "{} cannot be opened: {}", name, std::strerror(errno));
    // Closed on every way out; the mapping outlives the descriptor.
    struct Closer {
      int descriptor;
      ~Closer() { ::close(descriptor); }
    } closer{descriptor};
    struct stat status {};
    require(::fstat(descriptor, &status) == 0, "{} cannot be read: {}", name, std::strerror(errno));
    require(!S_ISDIR(status.st_mode), "{} is a folder, not a file", name);
    require(S_ISREG(status.st_mode), "{} is not a regular file", name);
    MappedFile mapping;
    mapping.size_ = static_cast<std::size_t>(status.st_size);
    if (mapping.size_ == 0) return mapping;
    void* address = ::mmap(nullptr, mapping.size_, PROT_READ, MAP_PRIVATE, descriptor, 0);
    require(address != MAP_FAILED, "{} cannot be mapped into memory ({} bytes): {}", name, mapping.size_,
            std::strerror(errno));
    mapping.data_ = static_cast<const std::uint8_t*>(address);
    return mapping;
  }

  MappedFile() = default;
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
  void unmap() {
    if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
    data_ = nullptr;
    size_ = 0;
  }

  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace iglens::detail
