#pragma once
// What each block of a decoder writes into the residual stream of one
// sequence, in TransformerLens' names. Every write is a vector in the
// residual basis, so a block's writes add up to its change of the stream:
//   resid_mid[l] - resid_pre[l]   = sum_h head_results[l, :, h] + attn_bias[l]
//   resid_pre[l+1] - resid_mid[l] = mlp_out[l]
// (up to rounding: the forward pass adds the fused attention output). In a
// parallel block (GPT-NeoX, Pythia) attention and MLP both read resid_pre[l]:
// there is no resid_mid, and
//   resid_pre[l+1] - resid_pre[l] = sum_h head_results[l, :, h] + attn_bias[l] + mlp_out[l].
// A head's write at position i is itself a sum over the source positions j
// it reads, each a direction of its own:
//   head_results[l, i, h] = head_scale[l, i] * sum_j attn_pattern[l, h, i, j] * head_values[l, j, h]
// (head_scale: the norm on the attention output, Gemma's; ones without one).

#include <cstdint>

#include <torch/torch.h>

namespace iglens {

struct ResidualComponents {
  torch::Tensor resid_pre;     // [L+1, S, d]: the residual stream, index L before the final norm
  torch::Tensor resid_mid;     // [L, S, d]: after attention, before the MLP; undefined in parallel blocks
  torch::Tensor head_results;  // [L, S, n_head, d]: each head's write z_h W_O^h
  torch::Tensor attn_bias;     // [L, S, d]: the attention output bias (zeros without one)
  torch::Tensor mlp_out;       // [L, S, d]
  // For the split by source position; undefined where a model does not give them (bundles).
  torch::Tensor attn_pattern;  // [L, n_head, S, S]: the weight position i gives source j
  torch::Tensor head_values;   // [L, S, n_head, d]: source j's value through head h's output, v_j W_O^h
  torch::Tensor head_scale;    // [L, S, d]

  bool has_sources() const { return attn_pattern.defined() && head_values.defined() && head_scale.defined(); }
  bool parallel_blocks() const { return !resid_mid.defined(); }

  std::int64_t n_layer() const { return head_results.size(0); }
  std::int64_t length() const { return head_results.size(1); }
  std::int64_t n_head() const { return head_results.size(2); }
  std::int64_t d_model() const { return head_results.size(3); }
};

}  // namespace iglens
