"""A small SentencePiece model for tiny test folders: llama.cpp's converter needs a tokenizer it knows,
and this one needs no hub. Shared by write_transformers_reference.py and write_current_reference.py."""
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
