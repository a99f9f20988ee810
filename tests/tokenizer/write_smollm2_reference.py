"""Reference data for the SmolLM2 tokenizer tests, from independent code.

Reads the tokenizer fields of the SmolLM2 GGUF file with gguf.GGUFReader,
builds Hugging Face `tokenizers` objects from them (byte-level BPE, the
"smollm" pre-tokenizer = Digits(individual_digits) then ByteLevel, and the
plain GPT-2 one = ByteLevel alone), and encodes test strings generated from a
fixed seed. Writes into OUT_DIR:
  smollm2_vocabulary.json   tokens, merges, token types, BOS/EOS, add_bos, pre
  tokenizer.json            the smollm tokenizer, special tokens added
  tokenizer_gpt2.json       the same with the ByteLevel pre-tokenizer alone
  tokenizer_bos.json        smollm with a post-processor that puts BOS first
  smollm2_cases.json        each string and its ids in every setting
  tokenizer_llama3.json     SmolLM2's vocabulary with Llama 3's pre-tokenizer (Split on its
                            regex, then ByteLevel without its own) and ignore_merges
  tokenizer_qwen2.json      the same with Qwen2's regex (numbers one digit at a time)
  pretokenizer_cases.json   each string, its pieces by either regex, and its ids with those two
                            tokenizers, special tokens as text

usage: write_smollm2_reference.py SMOLLM2_GGUF OUT_DIR
"""

import json
import os
import random
import sys

import gguf
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

CASE_COUNT = 1200
CONTROL, USER_DEFINED = 3, 4


def read_gguf_tokenizer(path):
    reader = gguf.GGUFReader(path)

    def field(name):
        return reader.fields["tokenizer.ggml." + name]

    def strings(name):
        f = field(name)
        return [bytes(f.parts[i]).decode("utf-8") for i in f.data]

    def integers(name):
        f = field(name)
        return [int(f.parts[i][0]) for i in f.data]

    return {
        "model": strings("model")[0],
        "pre": strings("pre")[0],
        "tokens": strings("tokens"),
        "token_types": integers("token_type"),
        "merges": strings("merges"),
        "bos_id": integers("bos_token_id")[0],
        "eos_id": integers("eos_token_id")[0],
        "add_bos": bool(integers("add_bos_token")[0]),
    }


def build_tokenizer(vocabulary, digits_first, bos_first=False):
    tokens = vocabulary["tokens"]
    vocab = {token: i for i, token in enumerate(tokens)}
    assert len(vocab) == len(tokens), "the GGUF vocabulary repeats a token"
    merges = [tuple(merge.split(" ")) for merge in vocabulary["merges"]]
    tokenizer = Tokenizer(models.BPE(vocab, merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    if digits_first:
        tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        tokenizer.pre_tokenizer = byte_level
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([
        AddedToken(token, special=True, normalized=False)
        for token, kind in zip(tokens, vocabulary["token_types"]) if kind in (CONTROL, USER_DEFINED)
    ])
    if bos_first:
        bos = tokens[vocabulary["bos_id"]]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", special_tokens=[(bos, vocabulary["bos_id"])])
    return tokenizer


# Building blocks of the test strings: every kind of text the pre-tokenizers
# treat differently.
# The Split regexes of Llama 3's and Qwen2's tokenizer.json.
LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = LLAMA3_REGEX.replace(r"\p{N}{1,3}", r"\p{N}")


def build_split_tokenizer(vocabulary, regex, ignore_merges):
    tokens = vocabulary["tokens"]
    vocab = {token: i for i, token in enumerate(tokens)}
    merges = [tuple(merge.split(" ")) for merge in vocabulary["merges"]]
    tokenizer = Tokenizer(models.BPE(vocab, merges, ignore_merges=ignore_merges))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([
        AddedToken(token, special=True, normalized=False)
        for token, kind in zip(tokens, vocabulary["token_types"]) if kind in (CONTROL, USER_DEFINED)
    ])
    return tokenizer


WORDS = ["the", "The", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "Hello", "world",
         "tokenizer", "transformer", "attribution", "integrated", "gradients", "a", "I", "x",
         "HTTP", "camelCase", "snake_case", "don", "we", "they", "you", "Python", "C++", "e-mail"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'LL", "'D", "'x", "'"]
PUNCTUATION = [".", ",", "!", "?", ";", ":", "...", "--", "(", ")", "[", "]", "{", "}", "\"", "#",
               "@", "$", "%", "^", "&", "*", "+=", "=>", "->", "<", ">", "</", "/>", "|", "\\", "~",
               "`", "``", "'''", "<|", "|>", "<<", ">>"]
ACCENTED = ["café", "naïve", "résumé", "Ångström", "über", "señor", "façade", "Zürich", "e\u0301",
            "crème brûlée", "ĳ", "œuvre", "Łódź", "ß", "İstanbul"]
OTHER_SCRIPTS = ["Привет", "мир", "Καλημέρα", "שלום", "مرحبا", "नमस्ते", "สวัสดี", "안녕하세요",
                 "こんにちは", "カタカナ", "日本語", "中文字符", "汉字测试", "ქართული", "Հայերեն",
                 "ελληνικά", "Ελλάδα", "ﬁ", "ｆｕｌｌｗｉｄｔｈ"]
EMOJI = ["😀", "🎉", "👍🏽", "👩‍💻", "🇫🇷", "❤️", "🤖", "✨", "🙂🙃", "🧑‍🤝‍🧑", "☃", "𝔘𝔫𝔦"]
DIGITS = ["0", "7", "42", "2024", "3.14159", "1,000,000", "007", "12345678901234567890", "1e-5",
          "٣٤٥", "１２３", "²", "½", "Ⅻ", "९", "0x1F", "v1.2.3", "50%", "$9.99", "3rd", "x2"]
SPACES = [" ", "  ", "   ", "\t", "\t\t", "\n", "\n\n", "\r\n", " \n ", "\u00a0", "\u3000",
          "\u2009", "\u0085", "\ufeff", "\u200b", "\u000b", "\f", " \t "]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<file_sep>",
            "<jupyter_code>", "<empty_output>", "<issue_start>"]
NEAR_SPECIALS = ["<|im_start", "im_end|>", "<|im_end|", "<repo_name", "<|endoftext", "<|IM_END|>",
                 "< |im_start|>"]


def random_piece(rng):
    kind = rng.choices(
        ["word", "contraction", "punctuation", "accented", "script", "emoji", "digits", "spaces",
         "special", "near_special"],
        weights=[30, 6, 10, 6, 8, 5, 10, 12, 6, 3])[0]
    if kind == "word":
        word = rng.choice(WORDS)
        return word.upper() if rng.random() < 0.1 else word
    if kind == "contraction":
        return rng.choice(WORDS) + rng.choice(CONTRACTIONS)
    if kind == "punctuation":
        return rng.choice(PUNCTUATION)
    if kind == "accented":
        return rng.choice(ACCENTED)
    if kind == "script":
        return rng.choice(OTHER_SCRIPTS)
    if kind == "emoji":
        return rng.choice(EMOJI)
    if kind == "digits":
        if rng.random() < 0.3:
            return "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 40)))
        return rng.choice(DIGITS)
    if kind == "spaces":
        return rng.choice(SPACES)
    if kind == "special":
        return rng.choice(SPECIALS)
    return rng.choice(NEAR_SPECIALS)


def random_text(rng):
    pieces = []
    for _ in range(rng.randint(1, 14)):
        pieces.append(random_piece(rng))
        if rng.random() < 0.6:
            pieces.append(rng.choice([" ", " ", " ", "", "\n", "  "]))
    text = "".join(pieces)
    if rng.random() < 0.15:
        text = " " * rng.randint(1, 3) + text
    if rng.random() < 0.15:
        text += rng.choice([" ", "  ", "\n", "\t", " \n"])
    return text


def fixed_texts():
    # Edge cases worth pinning down, whatever the seed gives.
    return ["", " ", "  ", "\n", "a", "1", " 1", "  12", "12 34", "x1y2z3", "1.5", "- 5",
            "Hello world", " Hello", "Hello ", "don't", "I'M", "we'll've", "it''s",
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            "<|im_start|><|im_end|>", "<<|im_end|>>", "<|im_start|", "text<|endoftext|>",
            "<|endoftext|><|endoftext|>", " <|im_end|> ", "a\u0085\u0085b", "x \ufeffy",
            "x \u0085y", "٣ ٤", "１２３４", "Ⅻ½²", "\t\tindented\n\n\n", "emoji 👩‍💻 12🎉3",
            # Llama 3's regex: cased contractions, a sign before letters, digits in threes, line breaks
            "DON'T", "We'Re", "$abc", "\tword", " 1234567", "a\r\n\r\nb", "x  \n\t y", "?!\n\nNext",
            "  \n  foo", "\u00a0word", "\n word", "end.\n"]


def main():
    gguf_path, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    vocabulary = read_gguf_tokenizer(gguf_path)
    assert vocabulary["model"] == "gpt2" and vocabulary["pre"] == "smollm", vocabulary["pre"]

    smollm = build_tokenizer(vocabulary, digits_first=True)
    gpt2 = build_tokenizer(vocabulary, digits_first=False)
    smollm_bos = build_tokenizer(vocabulary, digits_first=True, bos_first=True)
    smollm.save(os.path.join(out_dir, "tokenizer.json"))
    gpt2.save(os.path.join(out_dir, "tokenizer_gpt2.json"))
    smollm_bos.save(os.path.join(out_dir, "tokenizer_bos.json"))

    rng = random.Random(20240917)
    texts = fixed_texts() + [random_text(rng) for _ in range(CASE_COUNT)]
    cases = []
    for tokenizer in (smollm, gpt2):
        tokenizer.encode_special_tokens = True
    plain_smollm = [e.ids for e in smollm.encode_batch(texts, add_special_tokens=False)]
    plain_gpt2 = [e.ids for e in gpt2.encode_batch(texts, add_special_tokens=False)]
    for tokenizer in (smollm, gpt2):
        tokenizer.encode_special_tokens = False
    special_smollm = [e.ids for e in smollm.encode_batch(texts, add_special_tokens=False)]
    special_gpt2 = [e.ids for e in gpt2.encode_batch(texts, add_special_tokens=False)]
    with_bos = [e.ids for e in smollm_bos.encode_batch(texts, add_special_tokens=True)]
    for i, text in enumerate(texts):
        # The references must agree with themselves before they judge us.
        assert smollm.decode(plain_smollm[i], skip_special_tokens=False) == text, repr(text)
        assert with_bos[i] == [vocabulary["bos_id"]] + special_smollm[i], repr(text)
        cases.append({"text": text, "smollm": plain_smollm[i], "smollm_special": special_smollm[i],
                      "gpt2": plain_gpt2[i], "gpt2_special": special_gpt2[i]})

    llama3 = build_split_tokenizer(vocabulary, LLAMA3_REGEX, ignore_merges=True)
    qwen2 = build_split_tokenizer(vocabulary, QWEN2_REGEX, ignore_merges=False)
    llama3.save(os.path.join(out_dir, "tokenizer_llama3.json"))
    qwen2.save(os.path.join(out_dir, "tokenizer_qwen2.json"))
    for tokenizer in (llama3, qwen2):
        tokenizer.encode_special_tokens = True
    # The pieces each regex cuts a text into, by tokenizers' Split alone.
    splits = {name: pre_tokenizers.Split(Regex(regex), behavior="isolated", invert=False)
              for name, regex in (("llama3", LLAMA3_REGEX), ("qwen2", QWEN2_REGEX))}
    split_cases = [{"text": text, "llama3": a.ids, "qwen2": b.ids,
                    "llama3_pieces": [piece for piece, _ in splits["llama3"].pre_tokenize_str(text)],
                    "qwen2_pieces": [piece for piece, _ in splits["qwen2"].pre_tokenize_str(text)]}
                   for text, a, b in zip(texts, llama3.encode_batch(texts, add_special_tokens=False),
                                         qwen2.encode_batch(texts, add_special_tokens=False))]
    for case in split_cases:
        assert llama3.decode(case["llama3"], skip_special_tokens=False) == case["text"], repr(case["text"])
    with open(os.path.join(out_dir, "pretokenizer_cases.json"), "w", encoding="utf-8") as f:
        json.dump(split_cases, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "smollm2_vocabulary.json"), "w", encoding="utf-8") as f:
        json.dump({key: vocabulary[key] for key in
                   ("pre", "tokens", "token_types", "merges", "bos_id", "eos_id", "add_bos")}, f)
    with open(os.path.join(out_dir, "smollm2_cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    differing = sum(c["smollm"] != c["gpt2"] for c in cases)
    print(f"wrote {len(cases)} cases to {out_dir} ({differing} differ between smollm and gpt2)")


if __name__ == "__main__":
    main()
