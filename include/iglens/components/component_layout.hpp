#pragma once
// The parts a token's change is split into, in the order of their credits:
// the embedding, then per block l its heads 0..H-1, its attention output bias
// and its MLP. This header is the one place that order is written; every
// output reads a part's block, kind and head from here (and JSON carries them
// per part), so none re-derives it. No LibTorch here: reports use it too.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iglens {

enum class ComponentKind { embedding, head, attn_bias, mlp };

// As JSON and CSV write a kind.
inline std::string_view component_kind_name(ComponentKind kind) {
  switch (kind) {
    case ComponentKind::embedding:
      return "embedding";
    case ComponentKind::head:
      return "head";
    case ComponentKind::attn_bias:
      return "attn_bias";
    case ComponentKind::mlp:
      return "mlp";
  }
  return "?";
}

struct Component {
  ComponentKind kind = ComponentKind::embedding;
  std::optional<std::int64_t> block;  // none for the embedding
  std::optional<std::int64_t> head;   // a head's index within its block; none for the other kinds

  // TransformerLens-style names: "embedding", "3.attn.head 5", "3.attn.bias", "3.mlp".
  std::string label() const {
    switch (kind) {
      case ComponentKind::embedding:
        return "embedding";
      case ComponentKind::head:
        return std::to_string(*block) + ".attn.head " + std::to_string(*head);
      case ComponentKind::attn_bias:
        return std::to_string(*block) + ".attn.bias";
      case ComponentKind::mlp:
        return std::to_string(*block) + ".mlp";
    }
    return "?";
  }
};

struct ComponentLayout {
  std::int64_t n_layer = 0, n_head = 0;
  std::vector<Component> parts;  // in the order of the credits
  // Each block's heads, bias and MLP split one segment resid_pre[l] ->
  // resid_pre[l+1] (there is no resid_mid); otherwise the heads and the bias
  // split resid_pre[l] -> resid_mid[l] and the MLP has the rest.
  bool parallel_blocks = false;

  // How the outputs say which segments the parts split.
  std::string_view segments() const {
    return parallel_blocks ? "parallel blocks: heads, attention bias and MLP of a block share one segment "
                             "resid_pre[l] -> resid_pre[l+1] (no resid_mid)"
                           : "heads and attention bias split resid_pre[l] -> resid_mid[l], the MLP "
                             "resid_mid[l] -> resid_pre[l+1]";
  }

  // The layout of a decoder with n_layer blocks of n_head heads.
  // Parallel blocks (GPT-NeoX): attention and MLP read the same input, and
  // their parts share one segment of the path.
  static ComponentLayout of_blocks(std::int64_t n_layer, std::int64_t n_head, bool parallel_blocks = false) {
    ComponentLayout layout{n_layer, n_head, {{ComponentKind::embedding, std::nullopt, std::nullopt}}, parallel_blocks};
    for (std::int64_t block = 0; block < n_layer; ++block) {
      for (std::int64_t head = 0; head < n_head; ++head) layout.parts.push_back({ComponentKind::head, block, head});
      layout.parts.push_back({ComponentKind::attn_bias, block, std::nullopt});
      layout.parts.push_back({ComponentKind::mlp, block, std::nullopt});
    }
    return layout;
  }

  std::size_t size() const { return parts.size(); }

  std::vector<std::string> labels() const {
    std::vector<std::string> out;
    out.reserve(parts.size());
    for (const auto& part : parts) out.push_back(part.label());
    return out;
  }

  // The grids' columns of a block (SVG panels, the HTML report): its heads,
  // then the attention bias, then the MLP; the embedding has none (-1).
  std::int64_t block_columns() const { return n_head + 2; }
  std::int64_t column(const Component& part) const {
    switch (part.kind) {
      case ComponentKind::head:
        return *part.head;
      case ComponentKind::attn_bias:
        return n_head;
      case ComponentKind::mlp:
        return n_head + 1;
      case ComponentKind::embedding:
        break;
    }
    return -1;
  }
};

}  // namespace iglens
