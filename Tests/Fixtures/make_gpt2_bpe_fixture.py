#!/usr/bin/env python3
"""Writes Tests/Fixtures/gpt2-bpe-expected.json: token ids of tiktoken's "gpt2" encoding for a few texts,
checked by Tests/GPTTests/TokenizerTests.swift when the real GPT-2 files are available.

Needs `pip install tiktoken` and GPT-2's vocab.json + merges.txt (the standard Hugging Face pair; too large
to commit). tiktoken cannot download its own copy here, so the encoding is built from those files with
tiktoken's own loader, which checks that the two files agree, and GPT-2's pre-tokenisation pattern:

    python3 Tests/Fixtures/make_gpt2_bpe_fixture.py DIR   # DIR holds vocab.json and merges.txt

(The files ship, for example, in the source distribution of openai-whisper==20230124 under
whisper/assets/gpt2/.) The Swift test reads the same DIR from the environment variable GPT2_BPE_DIR.
"""
import json
import os
import sys

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tiktoken_ext.openai_public import r50k_pat_str

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "gpt2-bpe-expected.json")

TEXTS = [
    "Hello world",
    "The quick brown fox:\nJumps over the lazy dog, twice.\n\nDog:\nWoof, woof.\n",
    "it's we'll've I'M they'RE ''s don't you'd",
    "a  b   c    d\t\te\n\n\nf   \n  \n",
    "   leading spaces and trailing   ",
    "Numbers: 3.14159, 1,000,000 and 2024-01-31 12:34:56; 0x1F 1e-9 ١٢٣",
    "h\u00e9llo w\u00f6rld \u2014 na\u00efve caf\u00e9 e\u0301 \u00a0nbsp \u3000ideographic",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3002\u4e2d\u6587\u3002\ud55c\uad6d\uc5b4",
    "\U0001F600\U0001F44D\U0001F3FD \U0001F468\u200D\U0001F469\u200D\U0001F467 \u2764\ufe0f flags \U0001F1EF\U0001F1F5",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0417\u0434\u0440\u0430\u0432\u0441\u0442\u0432\u0443\u0439",
    "def f(x):\n    return x ** 2  # square\n\tif x != 0: print(f'{x!r}')\r\n",
    "<|endoftext|> is ordinary text here",
    "controls \x1c\x1d\x1e\x1f \x0b\x0c \x85 \u2028 \u2029 end",
    "supercalifragilisticexpialidocious antidisestablishmentarianism",
    "",
]


def main():
    directory = sys.argv[1]
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=os.path.join(directory, "merges.txt"),
        encoder_json_file=os.path.join(directory, "vocab.json"),
    )
    encoding = tiktoken.Encoding(
        name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
        special_tokens={"<|endoftext|>": 50256}, explicit_n_vocab=50257,
    )
    cases = [{"text": text, "ids": encoding.encode_ordinary(text)} for text in TEXTS]
    for case in cases:
        assert encoding.decode(case["ids"]) == case["text"]
    lines = [json.dumps(case, ensure_ascii=True) for case in cases]
    with open(OUT, "w", encoding="utf-8") as f:
        f.write('{"encoding": "tiktoken gpt2 (encode_ordinary), tiktoken %s",\n' % tiktoken.__version__)
        f.write(' "cases": [\n  ' + ",\n  ".join(lines) + "\n ]}\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
