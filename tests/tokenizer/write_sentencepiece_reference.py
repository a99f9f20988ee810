"""Reference data for Hugging Face SentencePiece-style tokenizer.json files, from independent code.

Trains a small SentencePiece BPE model with byte fallback (the `sentencepiece` package), has
transformers' own converters turn it into tokenizer.json folders the way real Llama 2, Mistral and
Gemma folders were made, and encodes test strings with Hugging Face `tokenizers` on each folder's
tokenizer.json:
  llama_legacy/   LlamaTokenizerFast, legacy: Sequence[Prepend(U+2581), Replace(" ", U+2581)]
  llama/          LlamaTokenizerFast, legacy=False: Metaspace(prepend_scheme="first", split=false)
  gemma/          GemmaTokenizerFast: Replace(" ", U+2581), Split(" ", merged_with_previous)
  metaspace_split/ the llama one with Metaspace(prepend_scheme="always", split=true)
Writes OUT_DIR/<name>/tokenizer.json (and the rest of each folder) and OUT_DIR/sentencepiece_cases.json:
{name: [{"text", "ids", "ids_special", "ids_bos", "decoded"}...]}: ids with special tokens as text,
with special tokens recognised, with the post-processor's BOS, and `tokenizers`' decoding of ids.

usage: write_sentencepiece_reference.py OUT_DIR
"""

import json
import os
import random
import sys

import sentencepiece
from tokenizers import pre_tokenizers
from transformers import GemmaTokenizerFast, LlamaTokenizerFast

import write_smollm2_reference as smollm2

VOCAB_SIZE = 1200
USER_DEFINED = ["<start_of_turn>", "<end_of_turn>", "\n\n", "    ", "<h1>"]

smollm2.SPECIALS = ["<s>", "</s>", "<unk>", "<bos>", "<eos>", "<pad>", "<start_of_turn>", "<end_of_turn>", "<h1>"]
smollm2.NEAR_SPECIALS = ["<start_of_turn", "end_of_turn>", "<bos", "<BOS>", "< s>", "<h1", "</s"]


def training_text(rng):
    # Ordinary text, so that merges form words, and the test generator's kinds of text.
    words = ("the of and to in is that it was for on are with as his they be at one have this from "
             "capital France Paris London model token tokenizer sentence piece merge byte fallback").split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(3, 14))) for _ in range(3000)]
    lines += [smollm2.random_text(rng) for _ in range(2000)]
    return lines


def train(out_dir, name, ids, rng):
    prefix = os.path.join(out_dir, name)
    unk, bos, eos, pad = ids
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(training_text(rng)), model_prefix=prefix, model_type="bpe",
        vocab_size=VOCAB_SIZE, byte_fallback=True, character_coverage=0.995, split_digits=True,
        user_defined_symbols=USER_DEFINED, remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        normalization_rule_name="identity", unk_id=unk, bos_id=bos, eos_id=eos, pad_id=pad,
        unk_piece="<unk>", bos_piece="<s>" if name == "llama" else "<bos>",
        eos_piece="</s>" if name == "llama" else "<eos>", pad_piece="<pad>",
        num_threads=1, minloglevel=2)
    return prefix + ".model"


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(20261205)
    llama_model = train(out_dir, "llama", (0, 1, 2, -1), rng)
    gemma_model = train(out_dir, "gemma", (3, 2, 1, 0), rng)
    tokenizers = {
        "llama_legacy": LlamaTokenizerFast(vocab_file=llama_model, legacy=True, add_prefix_space=True),
        "llama": LlamaTokenizerFast(vocab_file=llama_model, legacy=False, add_prefix_space=True),
        "gemma": GemmaTokenizerFast(vocab_file=gemma_model, from_slow=True),
    }
    split = LlamaTokenizerFast(vocab_file=llama_model, legacy=False, add_prefix_space=True)
    split._tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always",
                                                              split=True)
    tokenizers["metaspace_split"] = split

    text_rng = random.Random(20240917)
    texts = (["The capital of France is", "<start_of_turn>user\nHi<end_of_turn>\n", "<s>Hello</s>", "a<s>b",
              " leading", "  two", "\n\n\n\n", "    four", "ümlaut ÄÖÜ ß", "日本語", "🤗🤗", "\u200b", "\x00\x01\x7f",
              "\u2581already", "x\u2581 y"]
             + smollm2.fixed_texts() + [smollm2.random_text(text_rng) for _ in range(smollm2.CASE_COUNT)])
    cases = {}
    for name, fast in tokenizers.items():
        folder = os.path.join(out_dir, name)
        fast.save_pretrained(folder)
        tokenizer = fast._tokenizer
        tokenizer.encode_special_tokens = True
        plain = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
        tokenizer.encode_special_tokens = False
        special = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
        with_bos = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=True)]
        decoded = tokenizer.decode_batch(plain, skip_special_tokens=False)
        cases[name] = [{"text": t, "ids": a, "ids_special": b, "ids_bos": c, "decoded": d}
                       for t, a, b, c, d in zip(texts, plain, special, with_bos, decoded)]
        byte_pieces = sum(1 for ids in plain for i in ids if tokenizer.id_to_token(i).startswith("<0x"))
        print(f"{name}: {len(texts)} cases, {byte_pieces} byte-fallback pieces")
    with open(os.path.join(out_dir, "sentencepiece_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
