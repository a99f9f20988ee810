#pragma once
// What Lens<Model> needs from a decoder model, checked at compile time.
//
// A Model provides, for token ids [B, S] (int64):
//   torch::Tensor residual_stream(const torch::Tensor& ids);  // [L+1, B, S, d]
//   iglens::Readout readout();  // final norm + unembedding, [N, d] -> [N, V]
// Index 0 of the residual stream is the embedding output and index L the
// residual BEFORE the final norm, so readout(residual[L]) gives the logits.
// For Lens::attribute_components it also provides, for ids [1, S]:
//   iglens::ResidualComponents components(const torch::Tensor& ids);
//   iglens::NormHead norm_head();  // the readout as a norm and a matrix
// (The native decoders and bundles also have logits(ids), which greedy
// generation uses; Lens does not.)

#include <type_traits>
#include <utility>

#include <torch/torch.h>

#include "iglens/components/components.hpp"
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
struct has_readout : std::false_type {};
template <class Model>
struct has_readout<Model, std::void_t<decltype(std::declval<Model&>().readout())>>
    : std::is_convertible<decltype(std::declval<Model&>().readout()), Readout> {};

template <class Model, class = void>
struct has_components : std::false_type {};
template <class Model>
struct has_components<Model,
                      std::void_t<decltype(std::declval<Model&>().components(std::declval<const torch::Tensor&>())),
                                  decltype(std::declval<Model&>().norm_head())>>
    : std::conjunction<
          std::is_convertible<decltype(std::declval<Model&>().components(std::declval<const torch::Tensor&>())),
                              ResidualComponents>,
          std::is_convertible<decltype(std::declval<Model&>().norm_head()), NormHead>> {};

// Models whose components(ids, with_sources) can leave out what each head
// reads (the native decoders and bundles), which the component split alone
// does not need.
template <class Model, class = void>
struct chooses_sources : std::false_type {};
template <class Model>
struct chooses_sources<
    Model, std::void_t<decltype(std::declval<Model&>().components(std::declval<const torch::Tensor&>(), false))>>
    : std::true_type {};

}  // namespace detail

template <class Model>
inline constexpr bool is_model_v = detail::has_residual_stream<Model>::value&& detail::has_readout<Model>::value;

// A model whose blocks' writes can be split among heads, bias and MLP.
template <class Model>
inline constexpr bool has_components_v = is_model_v<Model>&& detail::has_components<Model>::value;

}  // namespace iglens
