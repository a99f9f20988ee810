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

    write_chat_template_reference.py SDIST OUT.json
"""
import datetime
import json
import sys
import tarfile

import jinja2
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


def main(sdist, out):
    cases = []
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
    with open(out, "w") as f:
        json.dump({"tokens": TOKENS, "now": "2024-07-26T00:00:00", "cases": cases}, f, indent=1)
    print(f"chat template reference: {len(members)} templates, {len(cases)} chats in {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
