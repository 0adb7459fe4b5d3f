"""Tokenizers: characters for arithmetic, and a byte-pair encoding trained here, offline.

`CharTokenizer` gives every character its own id. That is what the arithmetic chapters use: a
digit is a token, so the model sees numbers the way we write them, one place value at a time.

`train_bpe` learns a byte-level BPE (Sennrich et al. 2016; GPT-2's byte-level variant) from a
text and wraps it as a `tiktoken.Encoding`, so it encodes and decodes exactly like the GPT
tokenizers do -- without downloading anything. Chapter 2 uses it to show why BPE tokenizers
chop numbers into irregular pieces, and why GPT-4-era patterns split digits into groups of <= 3.
Chapter: chapters/02-tiny-gpt-and-sft.md, 2.1 (characters) and 2.9 (byte-pair encoding).
"""
from __future__ import annotations

from collections import Counter

import regex
import tiktoken
import torch

PAD = "<pad>"
BOS = "<bos>"
EOS = "<eos>"
ARITHMETIC_ALPHABET = "0123456789+-*/=(),: "


class CharTokenizer:
    """One id per character, plus three special tokens: PAD = 0, BOS = 1, EOS = 2."""

    def __init__(self, alphabet: str = ARITHMETIC_ALPHABET):
        if len(set(alphabet)) != len(alphabet):
            raise ValueError("alphabet has repeated characters")
        self.alphabet = alphabet
        self.specials = [PAD, BOS, EOS]
        self.itos = self.specials + list(alphabet)
        self.stoi = {ch: i for i, ch in enumerate(self.itos)}
        self.pad_id = 0
        self.bos_id = 1
        self.eos_id = 2
        # code point -> id
        self._lut = torch.full((max(map(ord, alphabet), default=0) + 1,), -1, dtype=torch.long)
        for ch in alphabet:
            self._lut[ord(ch)] = self.stoi[ch]

    @property
    def vocab_size(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[ch] for ch in text]
        except KeyError:
            raise self._unknown([text]) from None

    def _unknown(self, texts) -> ValueError:
        """The error for characters outside the alphabet, naming every one of them."""
        bad = sorted({ch for t in texts for ch in t if ch not in self.stoi})
        return ValueError(f"characters {bad!r} are not in the tokenizer's alphabet "
                          f"{self.alphabet!r}; remove them or build "
                          "CharTokenizer(alphabet=...) with them")

    def encode_batch(self, texts: list[str]):
        """Many texts at once -> (ids (B, L) right-padded with PAD, lengths (B,)), L = the longest
        text. Looks up all characters in one tensor indexing step: no Python loop over them."""
        lens = torch.tensor([len(t) for t in texts], dtype=torch.long)          # (B,)
        data = bytearray("".join(texts).encode("utf-32-le"))                    # 4 bytes a char
        codes = (torch.frombuffer(data, dtype=torch.int32).long() if data
                 else torch.zeros(0, dtype=torch.long))
        known = codes < len(self._lut)
        # (sum of lens,)
        flat = torch.where(known, self._lut[codes.clamp(max=len(self._lut) - 1)], -1)
        if (flat < 0).any():
            raise self._unknown(texts)
        ids = torch.full((len(texts), int(lens.max())), self.pad_id, dtype=torch.long)
        rows = torch.repeat_interleave(torch.arange(len(texts)), lens)          # row of each char
        cols = (torch.arange(len(flat))
                - torch.repeat_interleave(lens.cumsum(0) - lens, lens))        # its column
        ids[rows, cols] = flat
        return ids, lens

    def decode(self, ids, strict: bool = False) -> str:
        """Text of the ids, stopping at the first EOS. PAD and BOS are skipped, or with
        strict=True (used for sampled responses) shown as U+FFFD so that no verifier accepts
        them."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i in (self.pad_id, self.bos_id) or not 0 <= i < len(self.itos):
                if strict:
                    out.append("\ufffd")
                continue
            out.append(self.itos[i])
        return "".join(out)

    def to_dict(self) -> dict:
        return {"kind": "char", "alphabet": self.alphabet}


# GPT-2's pre-tokenisation pattern: runs of letters, of digits, of other symbols, and spaces.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# GPT-4-era pattern (cl100k): digits are split into groups of at most three.
GROUPED_DIGITS_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"""
                          r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")


def train_bpe(text: str, vocab_size: int, pattern: str = GPT2_PATTERN,
              name: str = "minirl-bpe") -> tiktoken.Encoding:
    """Learn vocab_size - 256 merges over the bytes of `text`; return a tiktoken Encoding.

    The algorithm: split the text into chunks with `pattern` (merges never cross a chunk), start
    from the 256 single bytes, and repeatedly merge the most frequent adjacent pair into a new
    token. Ranks are the merge order, which is exactly what tiktoken's encoder replays.
    """
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be >= 256 (the byte alphabet), got {vocab_size}")
    ranks: dict[bytes, int] = {bytes([i]): i for i in range(256)}
    words = Counter(tuple(bytes([b]) for b in chunk.encode("utf-8"))
                    for chunk in regex.findall(pattern, text))
    while len(ranks) < vocab_size:
        pairs: Counter = Counter()
        for word, n in words.items():
            for a, b in zip(word, word[1:]):
                pairs[a, b] += n
        if not pairs:
            break  # every chunk is a single token already
        (a, b), _ = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))   # ties: deterministic
        ranks[a + b] = len(ranks)
        merged = Counter()
        for word, n in words.items():
            out = []
            i = 0
            while i < len(word):
                if i + 1 < len(word) and word[i] == a and word[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks,
                             special_tokens={"<|endoftext|>": len(ranks)})


def gpt2_encoding():
    """The real GPT-2 tokenizer if tiktoken has its file cached locally, else None (with a message).

    tiktoken downloads its vocabulary files on first use; minirl never does. Set
    TIKTOKEN_CACHE_DIR to a folder holding the file to use it offline.
    """
    import os
    if os.environ.get("TIKTOKEN_CACHE_DIR"):
        try:
            return tiktoken.get_encoding("gpt2")
        except Exception as e:
            print(f"could not load GPT-2 from TIKTOKEN_CACHE_DIR ({type(e).__name__}: {e})")
    print("GPT-2 tokenizer not available offline; using the locally trained BPE instead. "
          "To see GPT-2's, put its vocabulary file in TIKTOKEN_CACHE_DIR.")
    return None
