#!/usr/bin/python3
"""Export a GPT-2 as one IG-Lens TorchScript bundle (iglens_gpt2.export; --help)."""
import sys

from iglens_gpt2.export import main

if __name__ == "__main__":
    sys.exit(main())
