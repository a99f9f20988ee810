#pragma once
// Which final norm a model applies before its unembedding.

namespace iglens {

enum class NormKind { layer_norm, rms_norm };

}  // namespace iglens
