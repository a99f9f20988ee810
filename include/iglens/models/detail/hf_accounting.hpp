#pragma once
// Every config.json key and every safetensors tensor of a Hugging Face folder
// is accounted for before a decoder runs: a key or tensor the decoder would
// ignore is refused by name, because ignoring it gives numbers that look
// right and are wrong.

#include <set>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iglens/error.hpp"
#include "iglens/model_files/hf_folder.hpp"

namespace iglens {
namespace detail {

using NameSet = std::set<std::string, std::less<>>;

// Keys that change no number of a forward pass: bookkeeping, token ids, the
// settings of training (dropout, initialisation), of generation (sampling:
// IG-Lens decodes greedily) and of heads the causal LM does not use.
inline const NameSet& hf_descriptive_keys() {
  static const NameSet keys = {
      // bookkeeping
      "architectures", "model_type", "transformers_version", "torch_dtype", "dtype", "_name_or_path",
      "_model_name_or_path", "_commit_hash", "_attn_implementation_autoset", "use_cache", "return_dict",
      "output_hidden_states", "output_attentions", "torchscript", "use_bfloat16", "tf_legacy_loss",
      "chunk_size_feed_forward", "is_decoder", "tokenizer_class", "prefix", "task_specific_params", "finetuning_task",
      "is_llama_config", "transformers.js_config",
      // token ids
      "bos_token_id", "eos_token_id", "pad_token_id", "sep_token_id", "unk_token_id", "mask_token_id", "cls_token_id",
      "decoder_start_token_id",
      // classification heads
      "id2label", "label2id", "num_labels", "problem_type", "summary_type", "summary_use_proj", "summary_activation",
      "summary_proj_to_labels", "summary_first_dropout",
      // training
      "initializer_range", "attention_dropout", "hidden_dropout", "resid_pdrop", "embd_pdrop", "attn_pdrop",
      // pretraining_tp > 1 slices the same products into parts (same sums)
      "pretraining_tp",
      // sampling
      "max_length", "min_length", "do_sample", "early_stopping", "num_beams", "num_beam_groups", "diversity_penalty",
      "temperature", "top_k", "top_p", "typical_p", "repetition_penalty", "length_penalty", "no_repeat_ngram_size",
      "encoder_no_repeat_ngram_size", "bad_words_ids", "num_return_sequences", "output_scores",
      "return_dict_in_generate", "forced_bos_token_id", "forced_eos_token_id", "remove_invalid_values",
      "exponential_decay_length_penalty", "suppress_tokens", "begin_suppress_tokens"};
  return keys;
}

// Keys accepted only at the value that turns their feature off.
inline bool hf_key_is_off(std::string_view key, const nlohmann::json& value) {
  const auto is_false = value.is_null() || (value.is_boolean() && !value.get<bool>());
  if (key == "is_encoder_decoder" || key == "add_cross_attention" || key == "tie_encoder_decoder" ||
      key == "rope_interleaved") {
    return is_false;
  }
  if (key == "cross_attention_hidden_size" || key == "sliding_window") return value.is_null();
  if (key == "pruned_heads") return value.is_null() || value.empty();
  return false;
}

// Fails on the first key of config.json that is neither in `read` (the
// loader uses or checks it), descriptive, nor off.
inline void require_known_config(const HfFolder& hf, const NameSet& read, std::string_view decoder) {
  const auto config_file = hf.folder() + "/config.json";
  for (const auto& [key, value] : hf.config().items()) {
    if (read.count(key) != 0 || hf_descriptive_keys().count(key) != 0) continue;
    if (hf_key_is_off(key, value)) continue;
    fail(
        "{}: config key '{}' = {} is not understood by the {} decoder and may change the computation; such a model "
        "is not supported",
        config_file, key, value.dump(), decoder);
  }
}

// Fails on the first tensor of the folder that is neither in `used` nor
// `ignorable` (a name the caller knows carries no computation of its own).
template <class Ignorable>
void require_every_tensor_used(const HfFolder& hf, const NameSet& used, std::string_view decoder, Ignorable ignorable) {
  for (const auto& name : hf.tensor_names()) {
    if (used.count(name) != 0 || ignorable(name)) continue;
    fail("Hugging Face folder '{}': tensor '{}' is not used by the {} decoder; such a model is not supported",
         hf.folder(), name, decoder);
  }
}

inline bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

}  // namespace detail
}  // namespace iglens
