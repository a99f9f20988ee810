// libFuzzer target: the GGUF parser and the dequantizers on arbitrary bytes.
// Parsing must either throw an iglens::Error or give tensors whose data lies
// in the input, aligned and of the size their shape and type call for; every
// dequantizable tensor is then converted (a matrix's last row also alone)
// and every metadata value described.
// Any other exception, crash or sanitizer report is a finding.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "iglens/model_files/gguf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  iglens::detail::GgufContents contents;
  try {
    contents = iglens::detail::parse_gguf(data, size, "fuzz-input");
  } catch (const iglens::Error&) {
    return 0;
  }
  const bool alignment_valid = contents.alignment > 0 && (contents.alignment & (contents.alignment - 1)) == 0;
  if (!alignment_valid || contents.tensors.size() != contents.tensor_index.size() ||
      contents.metadata.size() != contents.metadata_index.size()) {
    std::abort();
  }
  for (const auto& [key, value] : contents.metadata) (void)iglens::describe(value);

  std::vector<float> values;
  for (const iglens::GgufTensor& tensor : contents.tensors) {
    const auto& layout = iglens::detail::ggml_type_layout(tensor.type);
    const bool in_input = tensor.offset <= size && tensor.n_bytes <= size - tensor.offset;
    const bool aligned = (tensor.offset - contents.data_offset) % contents.alignment == 0;
    const auto numel = static_cast<std::uint64_t>(tensor.numel());
    const bool sized = numel % layout.block_size == 0 && numel / layout.block_size * layout.type_size == tensor.n_bytes;
    if (!in_input || !aligned || !sized) std::abort();
    if (!layout.dequantizable) continue;
    values.assign(numel, 0.0f);
    iglens::detail::dequantize_tensor(data, size, "fuzz-input", tensor, values.data(), 2);
    // A matrix's last row alone must be the whole tensor's last row (an embedding read by rows).
    if (tensor.shape.size() == 2 && tensor.shape[0] % layout.block_size == 0) {
      const auto cols = static_cast<std::size_t>(tensor.shape[0]);
      std::vector<float> row(cols);
      iglens::detail::dequantize_tensor_rows(data, size, "fuzz-input", tensor, tensor.shape[1] - 1, 1, row.data());
      // Bit for bit, NaNs included.
      if (std::memcmp(row.data(), values.data() + (numel - cols), cols * sizeof(float)) != 0) std::abort();
    }
  }
  return 0;
}
