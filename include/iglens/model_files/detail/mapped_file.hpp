#pragma once
// A whole file mapped read-only into memory (POSIX mmap), unmapped when the
// owner goes. Model files are read in place: a multi-GB checkpoint costs no
// copy until a tensor is converted. GGUF, safetensors and the JSON files of a
// Hugging Face folder all read through it. The descriptor stays open with
// the mapping, so that a reader can ask whether the file was written to or
// shortened since (reading a mapped page past a shortened file's end kills
// the process with SIGBUS).

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
    // Closed on every way out but success, where the mapping owns it.
    struct Closer {
      int descriptor;
      ~Closer() {
        if (descriptor >= 0) ::close(descriptor);
      }
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
    mapping.descriptor_ = std::exchange(closer.descriptor, -1);
    mapping.modified_ = status.st_mtim;
    return mapping;
  }

  MappedFile() = default;
  MappedFile(MappedFile&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)),
        size_(std::exchange(other.size_, 0)),
        descriptor_(std::exchange(other.descriptor_, -1)),
        modified_(other.modified_) {}
  MappedFile& operator=(MappedFile&& other) noexcept {
    if (this != &other) {
      unmap();
      data_ = std::exchange(other.data_, nullptr);
      size_ = std::exchange(other.size_, 0);
      descriptor_ = std::exchange(other.descriptor_, -1);
      modified_ = other.modified_;
    }
    return *this;
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() { unmap(); }

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }

  // Whether the mapped file still has the size and modification time it
  // had when it was mapped (one fstat). A file replaced by another (a
  // rename over its path) is unchanged: the mapping keeps the original.
  bool unchanged() const {
    if (descriptor_ < 0) return true;  // empty: nothing is read through it
    struct stat status {};
    return ::fstat(descriptor_, &status) == 0 && static_cast<std::size_t>(status.st_size) == size_ &&
           status.st_mtim.tv_sec == modified_.tv_sec && status.st_mtim.tv_nsec == modified_.tv_nsec;
  }

 private:
  void unmap() {
    if (data_ != nullptr) ::munmap(const_cast<std::uint8_t*>(data_), size_);
    if (descriptor_ >= 0) ::close(descriptor_);
    data_ = nullptr;
    size_ = 0;
    descriptor_ = -1;
  }

  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  int descriptor_ = -1;
  timespec modified_{};
};

}  // namespace iglens::detail
