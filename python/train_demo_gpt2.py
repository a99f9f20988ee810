#!/usr/bin/python3
"""Train the byte-level demo GPT-2 on Tiny Shakespeare (iglens_gpt2.train_demo; --help)."""
import sys

from iglens_gpt2.train_demo import main

if __name__ == "__main__":
    sys.exit(main())
