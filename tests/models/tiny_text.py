"""The text of the tiny folders' own tokenizers, for checking `iglens attribute --target` against
transformers: the training text, the prompt and target, the tokenizers of each family's kind, and the
model's float64 probability of each target token. Shared by write_transformers_reference.py and
write_current_reference.py (each in its own environment)."""
import json
import os

import tokenizers
import torch
import transformers

# Llama 3's and Qwen2's Split regexes (their tokenizer.json), for tiny tokenizers of the same kind.
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")
TEXT_PROMPT, TEXT_TARGET = "The 12 rivers of France meet the sea at 3 ports.", " Paris is 1 city"
TOKENIZER_TRAINING_TEXT = ("The rivers of France meet the sea. Paris is a city; 12 ports, 3 seas and 1 river. "
                           "What is the capital of France? It's Paris.\n") * 8


def write_family_tokenizer(folder, vocab_size, regex, bos):
    """A byte-level BPE tokenizer of Llama 3's or Qwen2's kind (its Split regex, Llama 3's ignore_merges
    and BOS), saved into the folder by transformers."""
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE(ignore_merges=regex == LLAMA3_REGEX))
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.Sequence([
        tokenizers.pre_tokenizers.Split(tokenizers.Regex(regex), behavior="isolated", invert=False),
        tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[bos] if bos else [],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([TOKENIZER_TRAINING_TEXT], trainer)
    if bos:
        tokenizer.post_processor = tokenizers.processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, tokenizer.token_to_id(bos))])
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=bos)
    fast.save_pretrained(folder)
    with open(os.path.join(folder, "tokenizer.json")) as f:
        assert json.load(f)["model"]["ignore_merges"] == (regex == LLAMA3_REGEX)
    return fast


def write_text_reference(model, fast, out_path):
    """The ids of TEXT_PROMPT and TEXT_TARGET by `fast`, and the model's probability of each target
    token after the prompt and the target tokens before it, as `iglens attribute --target` reads them."""
    prompt_ids = fast(TEXT_PROMPT)["input_ids"]
    target_ids = fast(TEXT_TARGET, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + target_ids])).logits[0]
    probabilities = torch.softmax(logits, dim=-1)
    P = len(prompt_ids)
    f_final = [float(probabilities[P - 1 + i, token]) for i, token in enumerate(target_ids)]
    with open(out_path, "w") as f:
        json.dump({"prompt": TEXT_PROMPT, "target": TEXT_TARGET, "prompt_ids": prompt_ids,
                   "target_ids": target_ids, "f_final": f_final}, f)
