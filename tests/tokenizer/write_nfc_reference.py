"""Reference ids for a byte-level tokenizer.json with an NFC normalizer, from Hugging Face `tokenizers`.

GPT-NeoX-20B's tokenizer (Pythia's) is GPT-2-style byte-level BPE behind an NFC normalizer, with a
non-special added token "  " (normalized = true) after its vocabulary. This file is GPT-2's
vocabulary and merges in the same shape, made and saved by `tokenizers` itself: the NFC normalizer,
ByteLevel pre-tokenizer, post-processor and decoder, and added tokens
  <|endoftext|>  special (GPT-2's 50256)
  "  "           not special, normalized (50257), as GPT-NeoX-20B's
  "café"         not special, normalized (50258): found in the normalised text, so "cafe" + U+0301 is it too
  "Ång"          not special, not normalized (50259): found in the raw text only, so not "A" + U+030A + "ng"
Writes OUT_DIR/tokenizer.json and OUT_DIR/nfc_cases.json: [{"text", "ids", "ids_special", "nfc"}...],
ids with special tokens as text and recognised, and the text's NFC form (Python's unicodedata), which
the first ids spell. (`tokenizers`' own ByteLevel decoder garbles non-ASCII added tokens.)

usage: write_nfc_reference.py GPT2_VOCAB_JSON GPT2_MERGES_TXT OUT_DIR
"""

import json
import os
import random
import sys
import unicodedata

from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

import write_smollm2_reference as smollm2

# Text the normaliser changes, around the added tokens and on its own.
COMPOSING = ["e\u0301", "E\u0301", "A\u030a", "\u212b", "\u2126", "o\u0308\u0304", "a\u0327\u0301", "a\u0301\u0327",
             "\u1100\u1161\u11a8", "\u1100\u1161", "\u0958", "\ufb01", "\u00e9\u0301", "n\u0303", "\u0301",
             "\u0915\u093c", "\u30ab\u3099", "\u0041\u030a\u0301"]
smollm2.SPECIALS = ["<|endoftext|>", "  ", "caf\u00e9", "cafe\u0301", "\u00c5ng", "A\u030ang", "\u212bng"]
smollm2.NEAR_SPECIALS = ["<|endoftext", "caf", "\u00c5n", "A\u030a", "e\u0301"]
smollm2.ACCENTED = smollm2.ACCENTED + COMPOSING


def build(vocab_path, merges_path):
    tokenizer = Tokenizer(models.BPE.from_file(vocab_path, merges_path))
    tokenizer.normalizer = normalizers.NFC()
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    tokenizer.add_tokens([AddedToken("  ", special=False, normalized=True),
                          AddedToken("caf\u00e9", special=False, normalized=True),
                          AddedToken("\u00c5ng", special=False, normalized=False)])
    assert [tokenizer.token_to_id(t) for t in ["<|endoftext|>", "  ", "caf\u00e9", "\u00c5ng"]] == [50256, 50257, 50258,
                                                                                                   50259]
    return tokenizer


def test_texts():
    rng = random.Random(20261206)
    return (["The caf\u00e9 is open", "The cafe\u0301 is open", "a  b", "a   b", "a    b", "x  \u0301", "\u00c5ng",
              "A\u030ang", "\u212bng", "\u00c5ngstr\u00f6m", "e\u0301\u0301", "cafe\u0301\u0301", "cafe\u0327\u0301",
              "<|endoftext|>cafe\u0301", "  cafe\u0301  "]
             + COMPOSING + smollm2.fixed_texts() + [smollm2.random_text(rng) for _ in range(smollm2.CASE_COUNT)])


def main():
    vocab_path, merges_path, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "tokenizer.json")
    build(vocab_path, merges_path).save(path)
    tokenizer = Tokenizer.from_file(path)

    texts = test_texts()
    tokenizer.encode_special_tokens = True
    plain = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    tokenizer.encode_special_tokens = False
    special = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
    cases = [{"text": t, "ids": a, "ids_special": b, "nfc": unicodedata.normalize("NFC", t)}
             for t, a, b in zip(texts, plain, special)]
    changed = sum(1 for case in cases if case["nfc"] != case["text"])
    assert changed >= 100, changed
    with open(os.path.join(out_dir, "nfc_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    print(f"{len(cases)} NFC tokenizer cases, {changed} of them changed by NFC, in {out_dir}")


if __name__ == "__main__":
    main()
