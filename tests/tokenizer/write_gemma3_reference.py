"""Reference ids for Gemma 3's real SentencePiece tokenizer (262,144 pieces), from llama.cpp's own.

Encodes the SmolLM2 tests' generated strings (the same seed and kinds of text, with Gemma's special
tokens in place of SmolLM2's) with llama-tokenize (scripts/build-llama-cpp-program.sh llama-tokenize) on the Gemma 3
270M GGUF file: every string in one run, each ended by the control token <unused99>, which llama.cpp
splits the text at before its SentencePiece encoder sees any of it; control tokens written in the
text are recognised (llama-tokenize's default), no BOS is added. Writes OUT_DIR/gemma3_cases.json:
[{"text", "ids"}...].

usage: write_gemma3_reference.py LLAMA_TOKENIZE GEMMA3_GGUF OUT_DIR
"""

import json
import os
import random
import subprocess
import sys
import tempfile

import write_smollm2_reference as smollm2

SEPARATOR = "<unused99>"

# Gemma's control tokens, a user-defined one, and near misses.
smollm2.SPECIALS = ["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>", "<pad>", "<mask>", "<unused5>",
                    "[multimodal]", "<start_of_image>"]
smollm2.NEAR_SPECIALS = ["<start_of_turn", "end_of_turn>", "<bos", "<BOS>", "< eos>", "<unused>", "[multimodal"]


def gemma_texts():
    return ["The capital of France is", "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
            "\n\n\n\n", "a\n\n\nb", "    four spaces", "tabs\t\t\there", "<h1>title</h1>", "x" * 40,
            "ümlaut ÄÖÜ ß", "日本語のテキスト", "🤗🤗", "\u200b", "\x00\x01\x7f"]


def main():
    llama_tokenize, gguf_path, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(20240917)
    texts = gemma_texts() + smollm2.fixed_texts() + [smollm2.random_text(rng) for _ in range(smollm2.CASE_COUNT)]
    assert not any(SEPARATOR in text for text in texts)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", suffix=".txt", delete=False) as f:
        f.write("".join(text + SEPARATOR for text in texts))
        joined = f.name
    try:
        done = subprocess.run([llama_tokenize, "-m", gguf_path, "-f", joined, "--ids", "--no-bos", "--no-escape",
                               "--log-disable"], capture_output=True, text=True, check=True)
    finally:
        os.remove(joined)
    ids = json.loads(done.stdout.strip().splitlines()[-1])
    # The separator's id, from a run of the separator alone.
    alone = subprocess.run([llama_tokenize, "-m", gguf_path, "-p", SEPARATOR, "--ids", "--no-bos", "--log-disable"],
                           capture_output=True, text=True, check=True)
    separator = json.loads(alone.stdout.strip().splitlines()[-1])
    assert len(separator) == 1, separator
    cases, current = [], []
    for token in ids:
        if token == separator[0]:
            cases.append({"text": texts[len(cases)], "ids": current})
            current = []
        else:
            current.append(token)
    assert len(cases) == len(texts) and not current, (len(cases), len(texts))
    # llama.cpp's own check of the encoder above: the example.
    assert cases[0]["ids"] == [818, 5279, 529, 7001, 563], cases[0]["ids"]
    with open(os.path.join(out_dir, "gemma3_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    print(f"{len(cases)} Gemma 3 tokenizer cases in {out_dir}")


if __name__ == "__main__":
    main()
