"""Reference ids for a GGUF tokenizer with pre-tokenizer "olmo" and user-defined tokens, from llama.cpp's own.

llama.cpp's converter names GPT-NeoX-20B's tokenizer (Pythia's, OLMo 1's) "olmo" and writes its
non-special added tokens, such as "  ", as user-defined tokens, which llama.cpp cuts out of any text,
special tokens parsed or not; it applies no NFC. This writes a vocabulary-only GGUF of that shape
from GPT-2's vocabulary and merges (the `gguf` package): <|endoftext|> a control token (50256), then
the user-defined "  " (50257) and "<|sep|>" (50258), and encodes the NFC tests' strings with
llama-tokenize (scripts/build-llama-cpp-program.sh llama-tokenize), special tokens parsed and not: every string in one
run, each ended by <|sep|>. Writes OUT_DIR/olmo.gguf and OUT_DIR/olmo_cases.json:
[{"text", "ids", "ids_special"}...], ids with special tokens as text and parsed.

usage: write_olmo_gguf_reference.py LLAMA_TOKENIZE GPT2_VOCAB_JSON GPT2_MERGES_TXT OUT_DIR
"""

import json
import os
import subprocess
import sys
import tempfile

import gguf

import write_nfc_reference

SEPARATOR = "<|sep|>"


def write_gguf(path, vocab_path, merges_path):
    with open(vocab_path, encoding="utf-8") as f:
        vocab = json.load(f)
    with open(merges_path, encoding="utf-8") as f:
        merges = [line.rstrip("\n") for line in f if line.strip() and not line.startswith("#version")]
    tokens = sorted(vocab, key=vocab.get) + ["  ", SEPARATOR]
    assert vocab["<|endoftext|>"] == 50256 and len(vocab) == 50257
    types = [gguf.TokenType.NORMAL] * len(vocab) + [gguf.TokenType.USER_DEFINED] * 2
    types[50256] = gguf.TokenType.CONTROL
    writer = gguf.GGUFWriter(path, "gpt2")
    # What llama.cpp reads of a GPT-2 model's shape before it sees the vocabulary.
    writer.add_context_length(64)
    writer.add_embedding_length(8)
    writer.add_block_count(1)
    writer.add_feed_forward_length(32)
    writer.add_head_count(2)
    writer.add_layer_norm_eps(1e-5)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("olmo")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(50256)
    writer.add_eos_token_id(50256)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def llama_tokenize(program, model, texts, parse_special):
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("".join(text + SEPARATOR for text in texts))
        joined = f.name
    try:
        options = [] if parse_special else ["--no-parse-special"]
        done = subprocess.run([program, "-m", model, "-f", joined, "--ids", "--no-bos", "--no-escape", "--log-disable"]
                              + options, capture_output=True, text=True, check=True)
    finally:
        os.remove(joined)
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    cases, current = [], []
    for token in ids:
        if token == 50258:
            cases.append(current)
            current = []
        else:
            current.append(token)
    assert len(cases) == len(texts) and not current, (len(cases), len(texts))
    return cases


def main():
    program, vocab_path, merges_path, out_dir = sys.argv[1:5]
    os.makedirs(out_dir, exist_ok=True)
    model = os.path.join(out_dir, "olmo.gguf")
    write_gguf(model, vocab_path, merges_path)
    texts = write_nfc_reference.test_texts()
    assert not any(SEPARATOR in text for text in texts)
    plain = llama_tokenize(program, model, texts, parse_special=False)
    special = llama_tokenize(program, model, texts, parse_special=True)
    # llama.cpp's own check of what the test is about: "  " whole, <|endoftext|> only where parsed.
    assert plain[texts.index("a    b")] == [64, 50257, 50257, 65], plain[texts.index("a    b")]
    with open(os.path.join(out_dir, "olmo_cases.json"), "w", encoding="utf-8") as f:
        json.dump([{"text": t, "ids": a, "ids_special": b} for t, a, b in zip(texts, plain, special)], f,
                  ensure_ascii=False)
    print(f"{len(texts)} cases of a GGUF tokenizer with pre-tokenizer olmo in {out_dir}")


if __name__ == "__main__":
    main()
