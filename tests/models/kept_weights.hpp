#pragma once
// The check that a model with its matrices kept as stored (stored_weight.hpp)
// computes what the same file loaded as float32 computes: the same float32
// values, multiplied whole or by tiles of rows, so the same numbers up to a
// matrix product's rounding (1e-12 in float64, 1e-5 in float32, relative to
// the largest value), the layer map and the split by source position
// included. So does a model holding exact copies of the kept matrices in
// memory (what a GPU holds: 16 bits a weight where the file stores 16),
// built here on the CPU. Shared by the GGUF and the Hugging Face folder tests.

#include <cstdint>

#include <torch/torch.h>
#include <catch2/catch.hpp>

#include "iglens/detail/tensor_text.hpp"
#include "iglens/lens/lens.hpp"
#include "iglens/models/decoder.hpp"
#include "reference.hpp"

namespace iglens::testing {

struct KeptBytes {
  std::uint64_t stored = 0;  // what the kept model holds for its matrices: layers, embedding, head
  std::uint64_t loaded = 0;  // what the float32 model holds for them
  std::uint64_t copied = 0;  // what exact copies of the kept matrices hold
};

// `stored` with each kept matrix replaced by its exact copy in memory, as StoredWeight::to puts them on a GPU.
inline DecoderModel with_exact_copies(const DecoderModel& stored, std::uint64_t& bytes) {
  auto weights = stored.weights();
  const auto copy = [&](StoredWeight& m) {
    m = m.exact_copy(torch::kCPU);
    CHECK(m.widens_on_use());
    bytes += m.bytes();
  };
  copy(weights.token_embedding);
  for (auto& layer : weights.layers) {
    for (auto* m : layer.matrices()) copy(*m);
  }
  if (stored.config().tied_embeddings) {
    weights.unembedding = weights.token_embedding;
  } else {
    copy(weights.unembedding);
  }
  return DecoderModel(stored.config(), std::move(weights), "exact copies");
}

// Both models' numbers the same within rounding in float64 and float32, which leaves them in float32.
inline void check_same_numbers(DecoderModel& floats, DecoderModel& other) {
  torch::NoGradGuard no_grad;
  const auto vocab = floats.config().vocab_size;
  const auto ids = (torch::arange(9, torch::kLong) * 37 + 3).remainder(vocab).unsqueeze(0);
  for (const auto dtype : {torch::kFloat64, torch::kFloat32}) {
    CAPTURE(iglens::detail::dtype_name(dtype));
    floats.to(dtype);
    other.to(dtype);
    const double tolerance = dtype == torch::kFloat64 ? 1e-12 : 1e-5;
    const auto close = [&](const torch::Tensor& a, const torch::Tensor& b) {
      return max_abs_diff(a, b) <= tolerance * (1.0 + a.abs().max().item<double>());
    };
    CHECK(close(floats.residual_stream(ids), other.residual_stream(ids)));
    auto float_cache = floats.start_cache(1, 12), other_cache = other.start_cache(1, 12);
    CHECK(close(floats.logits(ids, float_cache), other.logits(ids, other_cache)));
    const auto next = ids.narrow(1, 0, 1);
    CHECK(close(floats.logits(next, float_cache), other.logits(next, other_cache)));
    const auto a = floats.components(ids), b = other.components(ids);
    CHECK(close(a.head_results, b.head_results));
    CHECK(close(a.head_values, b.head_values));
    CHECK(close(a.mlp_out, b.mlp_out));
    // The head is kept too: the layer map and the split by source position
    // (products with the head and with its transpose) read it tile by tile.
    const auto sequence = ids[0];
    const std::vector<std::int64_t> id_list(sequence.data_ptr<std::int64_t>(),
                                            sequence.data_ptr<std::int64_t>() + sequence.numel());
    const auto targets = Targets::next_tokens(id_list, 5);
    Options options;
    options.dtype = dtype;
    options.steps = 4;
    const auto map_a = Lens<DecoderModel>(floats).attribute_sources(sequence, targets, options);
    const auto map_b = Lens<DecoderModel>(other).attribute_sources(sequence, targets, options);
    CHECK(close(map_a.layers.ig, map_b.layers.ig));
    CHECK(close(map_a.layers.f_final, map_b.layers.f_final));
    CHECK(close(map_a.sources.components.credits, map_b.sources.components.credits));
    CHECK(close(map_a.sources.credits, map_b.sources.credits));
  }
}

// The kept model holds its matrices as stored, in fewer bytes than the float32 model where the file is not
// F32, and computes the same numbers, as do exact copies of its matrices. Leaves the models in float32.
inline KeptBytes check_kept_matches_float(DecoderModel& floats, DecoderModel& stored) {
  KeptBytes bytes;
  REQUIRE(stored.weights().layers.size() == floats.weights().layers.size());
  for (std::size_t i = 0; i < stored.weights().layers.size(); ++i) {
    const auto kept = stored.weights().layers[i].matrices();
    const auto loaded = floats.weights().layers[i].matrices();
    for (std::size_t m = 0; m < kept.size(); ++m) {
      const auto *a = kept[m], *b = loaded[m];
      REQUIRE((!a->in_memory() && b->in_memory() && a->sizes() == b->sizes()));
      bytes.stored += a->bytes();
      bytes.loaded += b->bytes();
    }
  }
  // The embedding is read by rows and the head a tile at a time, both kept; a tied head is the embedding.
  const auto& embedding = stored.weights().token_embedding;
  const auto& head = stored.weights().unembedding;
  REQUIRE((!embedding.in_memory() && !head.in_memory()));
  CHECK(head.is_same(embedding) == stored.config().tied_embeddings);
  bytes.stored += embedding.bytes();
  bytes.loaded += floats.weights().token_embedding.bytes();
  if (!stored.config().tied_embeddings) {
    bytes.stored += head.bytes();
    bytes.loaded += floats.weights().unembedding.bytes();
  }
  // F32 files keep as many bytes as they load; 16-bit and quantised ones fewer.
  CHECK(bytes.stored <= bytes.loaded);
  auto copies = with_exact_copies(stored, bytes.copied);
  // 16-bit copies are the file's bytes; float32 ones (F32, quantised) the float32 model's.
  CHECK(bytes.copied <= bytes.loaded);
  CHECK(bytes.copied >= bytes.stored);
  check_same_numbers(floats, stored);
  check_same_numbers(floats, copies);
  return bytes;
}

}  // namespace iglens::testing
