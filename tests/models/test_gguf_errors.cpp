// Bad GGUF files: one-line iglens::Error naming the file and the problem,
// never a crash.

#include <string>

#include <catch2/catch.hpp>

#include "iglens/models/load_gguf.hpp"
#include "reference.hpp"

using namespace iglens;
using Catch::Matchers::Contains;

using iglens::testing::bad_input;
using iglens::testing::error_of;

TEST_CASE("GGUF of another architecture is named and refused", "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("gemma3.gguf")); }),
             Contains("gemma3.gguf': architecture 'gemma3' is not supported (supported: llama)"));
}

TEST_CASE("GGUF missing a tensor names it", "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("missing_tensor.gguf")); }),
             Contains("missing_tensor.gguf' has no tensor 'blk.2.ffn_gate.weight'"));
}

TEST_CASE("GGUF tensor shape that disagrees with the metadata names both shapes", "[models][errors]") {
  CHECK_THAT(error_of([] { load_gguf_decoder(bad_input("wrong_shape.gguf")); }),
             Contains("wrong_shape.gguf': tensor 'blk.0.attn_k.weight' has shape [15, 32] (torch order), but the "
                      "metadata implies [16, 32]"));
}
