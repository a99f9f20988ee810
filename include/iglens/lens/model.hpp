#pragma once
// What IG-Lens needs from a decoder model, checked at compile time.
//
// A Model provides, for token ids [B, S] (int64):
//   torch::Tensor residual_stream(const torch::Tensor& ids);  // [L+1, B, S, d]
//   torch::Tensor logits(const torch::Tensor& ids);           // [B, S, V]
//   iglens::Readout readout();  // final norm + unembedding, [N, d] -> [N, V]
// Index 0 of the residual stream is the embedding output and index L the
// residual BEFORE the final norm, so readout(residual[L]) equals logits.

#include <type_traits>
#include <utility>

#include <torch/torch.h>

#include "iglens/engine/readout.hpp"

namespace iglens {
namespace detail {

template <class Model, class = void>
struct has_residual_stream : std::false_type {};
template <class Model>
struct has_residual_stream<
    Model, std::void_t<decltype(std::declval<Model&>().residual_stream(std::declval<const torch::Tensor&>()))>>
    : std::is_convertible<decltype(std::declval<Model&>().residual_stream(std::declval<const torch::Tensor&>())),
                          torch::Tensor> {};

template <class Model, class = void>
struct has_logits : std::false_type {};
template <class Model>
struct has_logits<Model, std::void_t<decltype(std::declval<Model&>().logits(std::declval<const torch::Tensor&>()))>>
    : std::is_convertible<decltype(std::declval<Model&>().logits(std::declval<const torch::Tensor&>())),
                          torch::Tensor> {};

template <class Model, class = void>
struct has_readout : std::false_type {};
template <class Model>
struct has_readout<Model, std::void_t<decltype(std::declval<Model&>().readout())>>
    : std::is_convertible<decltype(std::declval<Model&>().readout()), Readout> {};

}  // namespace detail

template <class Model>
inline constexpr bool is_model_v =
    detail::has_residual_stream<Model>::value&& detail::has_logits<Model>::value&& detail::has_readout<Model>::value;

}  // namespace iglens
