// libFuzzer target: the safetensors reader on arbitrary bytes. The reader maps
// files, so each input is written to a file of this process first. It must
// either throw an iglens::Error or return tensors that satisfy its own checks
// and convert (whole, or a window of a matrix) without reading outside their
// bytes; any other exception, crash or sanitizer report is a finding.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "iglens/model_files/safetensors.hpp"

namespace {

// The file of this process, removed when it exits.
const std::string& input_path() {
  static const struct InputFile {
    std::string path =
        (std::filesystem::temp_directory_path() / ("fuzz_safetensors_" + std::to_string(::getpid()))).string();
    ~InputFile() { std::remove(path.c_str()); }
  } file;
  return file.path;
}

bool is_float(iglens::SafetensorsDtype dtype) {
  using D = iglens::SafetensorsDtype;
  return dtype == D::f64 || dtype == D::f32 || dtype == D::f16 || dtype == D::bf16;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::FILE* out = std::fopen(input_path().c_str(), "wb");
  if (out == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, out) != size) std::abort();
  std::fclose(out);

  try {
    const auto file = iglens::SafetensorsFile::open(input_path());
    const unsigned char* previous_end = nullptr;
    for (const auto& tensor : file.tensors()) {
      std::uint64_t count = 1;
      for (const auto dimension : tensor.shape) {
        if (dimension < 0) std::abort();
        count *= static_cast<std::uint64_t>(dimension);  // unsigned: a wrap before a zero dimension still ends at 0
      }
      if (count != static_cast<std::uint64_t>(tensor.element_count)) std::abort();
      if (tensor.byte_size != count * iglens::dtype_size(tensor.dtype)) std::abort();
      if (tensor.byte_size > size) std::abort();
      if (&file.tensor(tensor.name) != &tensor) std::abort();
      if (tensor.byte_size == 0) continue;
      // Listed in data order, and no two share a byte.
      if (previous_end != nullptr && tensor.data < previous_end) std::abort();
      previous_end = tensor.data + tensor.byte_size;
      if (is_float(tensor.dtype)) {
        std::vector<double> values(static_cast<std::size_t>(tensor.element_count));
        file.to_float64(tensor, values.data());
        // A kept matrix's reads: its last row, and a window of its columns as a transposed matrix reads them.
        if (tensor.shape.size() == 2) {
          const auto rows = tensor.shape[0], cols = tensor.shape[1];
          std::vector<float> window(static_cast<std::size_t>(cols));
          file.window_to_float32(tensor, rows - 1, 1, 0, cols, window.data());
          window.assign(static_cast<std::size_t>(rows), 0.0f);
          file.window_to_float32(tensor, 0, rows, cols - 1, 1, window.data());
        }
      }
    }
  } catch (const iglens::Error&) {
  }
  return 0;
}
