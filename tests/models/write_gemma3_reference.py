"""transformers' float32 probabilities of given tokens under Gemma 3 270M, from the same GGUF file.

transformers (4.57, with gguf and accelerate: scripts/python-env-current.sh) dequantizes the GGUF file
into a Gemma3ForCausalLM and runs each sequence once; it is fed the ids IG-Lens chose (its own
conversion of this GGUF's tokenizer is not trusted: it splits text differently from llama.cpp).

    write_gemma3_reference.py GEMMA3_GGUF SEQUENCES_JSON OUT_JSON
        SEQUENCES_JSON: [{"ids": [...], "prompt_length": n}...]; OUT_JSON: for each sequence, the
        probability of every token after the prompt given the tokens before it.
"""
import json
import os
import sys

import torch
import transformers

torch.set_num_threads(2)


def main(gguf_path, sequences_path, out_path):
    model = transformers.AutoModelForCausalLM.from_pretrained(
        os.path.dirname(os.path.abspath(gguf_path)), gguf_file=os.path.basename(gguf_path), dtype=torch.float32)
    assert type(model).__name__ == "Gemma3ForCausalLM", type(model).__name__
    model.eval()
    with open(sequences_path) as f:
        sequences = json.load(f)
    out = []
    for sequence in sequences:
        ids, n = sequence["ids"], sequence["prompt_length"]
        with torch.no_grad():
            probabilities = model(torch.tensor([ids])).logits[0].softmax(-1)
        out.append([probabilities[i - 1, ids[i]].item() for i in range(n, len(ids))])
    with open(out_path, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
