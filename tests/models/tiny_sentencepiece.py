"""Small SentencePiece models for tiny test folders: llama.cpp's converter needs a tokenizer it knows,
and these need no hub. Shared by write_transformers_reference.py and write_current_reference.py."""
import os


def write_sentencepiece_tokenizer(folder):
    import sentencepiece
    text = os.path.join(folder, "text.txt")
    with open(text, "w") as f:
        for i in range(200):
            f.write(f"the quick brown fox {i} jumps over the lazy dog; a model of {i * 7} layers\n")
    sentencepiece.SentencePieceTrainer.train(input=text, model_prefix=os.path.join(folder, "tokenizer"),
                                             vocab_size=60, model_type="bpe", minloglevel=2)
    os.remove(text)
    os.remove(os.path.join(folder, "tokenizer.vocab"))


def write_sentencepiece_folder_tokenizer(folder, training_text, gemma):
    """A SentencePiece BPE with byte fallback (300 pieces, 256 of them bytes) as tokenizer.model, and the
    tokenizer.json that transformers' converter makes of it (GemmaTokenizerFast, or LlamaTokenizerFast as
    Mistral's folders have it), saved into the folder as real folders hold both."""
    import sentencepiece
    import transformers
    text = os.path.join(folder, "text.txt")
    with open(text, "w") as f:
        f.write(training_text)
    special = dict(pad_id=0, eos_id=1, bos_id=2, unk_id=3, bos_piece="<bos>", eos_piece="<eos>") if gemma else {}
    sentencepiece.SentencePieceTrainer.train(
        input=text, model_prefix=os.path.join(folder, "tokenizer"), vocab_size=300, model_type="bpe",
        byte_fallback=True, hard_vocab_limit=False, remove_extra_whitespaces=False, split_digits=True,
        minloglevel=2, **special)
    os.remove(text)
    os.remove(os.path.join(folder, "tokenizer.vocab"))
    model_file = os.path.join(folder, "tokenizer.model")
    if gemma:
        fast = transformers.GemmaTokenizerFast(vocab_file=model_file)
    else:
        fast = transformers.LlamaTokenizerFast(vocab_file=model_file, legacy=False, add_prefix_space=True)
    fast.save_pretrained(folder)
    return fast
