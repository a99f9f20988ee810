"""Writes the chat template reference: real models' chat templates (the ones
llama.cpp keeps in models/templates/, read from the llama-cpp-python source
distribution the build downloaded for minja) rendered by transformers' own
Jinja2 environment, with the variables apply_chat_template passes (messages,
tools=None, documents=None, add_generation_prompt, the special tokens). A
template that refuses a chat with raise_exception (a role it does not take)
is recorded as an error; one that fails for want of tools (the tool-use
variants iterate `tools` or `functions`) is recorded as skipped: transformers
cannot render it without tools, and IG-Lens passes none.
strftime_now is fixed to 26 Jul 2024, 00:00.

Three of the templates also go into tiny Hugging Face tokenizer folders, as
transformers saves them (tokenizer.json of a byte-level BPE trained here,
tokenizer_config.json with the template and the special tokens; the Llama 3
one adds BOS by its post-processor, as Llama 3's does), with the ids of
apply_chat_template(tokenize=True) for each chat.

    write_chat_template_reference.py SDIST OUT.json TOKENIZER_FOLDERS
"""
import datetime
import json
import sys
import tarfile

import jinja2
import os
import shutil
import tokenizers
import transformers
from tokenizers import decoders, pre_tokenizers, processors, trainers
from transformers.utils import chat_template_utils

FIXED_NOW = datetime.datetime(2024, 7, 26)


class FixedDatetime(datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


chat_template_utils.datetime = FixedDatetime  # what transformers' strftime_now reads

TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
CHATS = [
    ([{"role": "user", "content": "What is the capital of France?"}], True),
    ([{"role": "user", "content": "What is the capital of France?"}], False),
    ([{"role": "system", "content": "Answer in one word."},
      {"role": "user", "content": "What is the capital of France?"}], True),
    ([{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello. How can I help?"},
      {"role": "user", "content": "  Name a prime number \u2014 any one.\n"}], True),
]


# Template file, its special tokens, and the BOS its tokenizer adds by itself.
TOKENIZER_FOLDERS = {
    "meta-llama-Llama-3.2-3B-Instruct.jinja": (
        ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        "<|begin_of_text|>", "<|eot_id|>", "<|begin_of_text|>"),
    "Qwen-Qwen2.5-7B-Instruct.jinja": (["<|endoftext|>", "<|im_start|>", "<|im_end|>"], None, "<|im_end|>", None),
    "google-gemma-2-2b-it.jinja": (["<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>"], "<bos>", "<eos>", None),
}
TRAINING_TEXT = ("You are a helpful assistant. What is the capital of France? The capital of France is Paris. "
                 "Answer in one word. Hello. How can I help? Name a prime number, any one. Cutting Knowledge Date: "
                 "December 2023. Today Date: 26 Jul 2024. system user assistant model") * 4


def tokenizer_folder(folder, source, specials, bos, eos, adds_bos):
    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator([TRAINING_TEXT], trainer)
    if adds_bos:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{adds_bos} $A", special_tokens=[(adds_bos, tokenizer.token_to_id(adds_bos))])
    wrapped = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token=bos, eos_token=eos)
    wrapped.chat_template = source
    shutil.rmtree(folder, ignore_errors=True)
    wrapped.save_pretrained(folder)
    chats = []
    for messages, add_generation_prompt in CHATS:
        if not add_generation_prompt:
            continue
        try:
            text = wrapped.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        except jinja2.exceptions.TemplateError:
            continue  # a role the template refuses
        ids = wrapped.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        chats.append({"messages": messages, "text": text, "ids": ids})
    return chats


def main(sdist, out, folders):
    cases, tokenized = [], []
    with tarfile.open(sdist) as archive:
        members = sorted((m for m in archive.getmembers()
                          if "/models/templates/" in m.name and m.name.endswith(".jinja")), key=lambda m: m.name)
        for member in members:
            source = archive.extractfile(member).read().decode("utf-8")
            template = chat_template_utils._compile_jinja_template(source)
            for messages, add_generation_prompt in CHATS:
                case = {"template": member.name.rsplit("/", 1)[1], "messages": messages,
                        "add_generation_prompt": add_generation_prompt}
                try:
                    case["text"] = template.render(messages=messages, tools=None, documents=None,
                                                   add_generation_prompt=add_generation_prompt, **TOKENS)
                except Exception as error:
                    # raise_exception raises exactly TemplateError; other errors are the template's own.
                    case["error" if type(error) is jinja2.exceptions.TemplateError else "skipped"] = str(error)
                cases.append(case)
            cases[-1]["source"] = source
            name = member.name.rsplit("/", 1)[1]
            if name in TOKENIZER_FOLDERS:
                folder = os.path.join(folders, name[:-len(".jinja")])
                tokenized.append({"folder": folder, "chats": tokenizer_folder(folder, source, *TOKENIZER_FOLDERS[name])})
    assert len(tokenized) == len(TOKENIZER_FOLDERS)
    with open(out, "w") as f:
        json.dump({"tokens": TOKENS, "now": "2024-07-26T00:00:00", "cases": cases, "tokenized": tokenized}, f,
                  indent=1)
    print(f"chat template reference: {len(members)} templates, {len(cases)} chats in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
