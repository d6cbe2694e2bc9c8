"""Detokenizers for zero-shot evaluation: undo a benchmark's own tokenization before GPT-2 reads it.

The GPT-2 paper (§3.1) scores benchmarks after "invertible de-tokenizers" remove the artifacts of
each dataset's pre-processing (spaces around punctuation, split contractions), because GPT-2 saw
raw web text, not tokenized text. Each detokenizer here is an ordered list of regular-expression
rewrites; `wikitext` and `ptb` also have the inverse (`retokenize`), which gives back the dataset's
text exactly for text tokenized the way the dataset was: retokenize(detokenize(x)) == x
(tests/gpt2/test_detokenize.py checks it on constructed text, and the exceptions below).

- `wikitext` (WikiText-2/103 raw, Merity et al. 2016). Undoes: `@-@`, `@,@`, `@.@` (hyphen, thousands
  separator and decimal point inside a word: "1 @,@ 000" -> "1,000"); spaces before , . ; : ! ? ) ]
  and after ( [; split contractions ("do n't" -> "don't", "it 's" -> "it's"); spaced heading marks
  ("= = Career = =" -> "== Career =="). Invertible on WikiText's tokenization, except for a word that
  ends in a period itself before a space ("U.S. and"): the inverse splits that period off.
- `ptb` (Penn Treebank as Mikolov et al. distribute it: lower case, `<unk>`, `N` for numbers, no
  punctuation left but contractions). Undoes the split contractions ("do n't", "it 's", "we 're",
  "i 've", "i 'm", "you 'll", "he 'd") and " 's" possessives. Invertible on PTB's tokenization.
- `lambada` (the original LAMBADA release, PTB-style tokenized with `` '' quotes; OpenAI's
  `lambada_test.jsonl` is already detokenized and needs `none`). Undoes `` and '' (-> "), the
  spaces around punctuation and the split contractions. Not invertible: "``" and "''" both become ".
- `none`: the text as it is.
"""

from __future__ import annotations

import re

_CONTRACTIONS = r"(n't|'s|'re|'ve|'m|'ll|'d)"

_WIKITEXT = [
    (r" @(.)@ ", r"\1"),                              # 1 @,@ 000 -> 1,000; well @-@ known -> well-known
    (r" " + _CONTRACTIONS + r"(?= |$)", r"\1"),        # do n't -> don't; it 's -> it's
    (r" ([,.;:!?)\]])(?= |$)", r"\1"),                # word , -> word,
    (r"(^| )([(\[]) ", r"\1\2"),                      # ( word -> (word
    (r"(?<![^ ])((?:= )+)=(?= |$)", lambda m: m.group(1).replace(" ", "") + "="),  # = = x = = -> == x ==
]
_WIKITEXT_INVERSE = [
    (r"(?<![^ ])(={2,})(?= |$)", lambda m: " ".join(m.group(1))),
    (r"(^| )([(\[])(?=[^ ])", r"\1\2 "),
    (r"(?<=[^ ])([,.;:!?)\]])(?=[ ,.;:!?)\]]|$)", r" \1"),
    (r"(?<=[^ ])" + _CONTRACTIONS + r"(?= |$)", r" \1"),
    (r"(?<=[^ ])([-,.])(?=[^ ])", r" @\1@ "),
]

_PTB = [(r" " + _CONTRACTIONS + r"(?= |$)", r"\1")]
_PTB_INVERSE = [(r"(?<=[^ ])" + _CONTRACTIONS + r"(?= |$)", r" \1")]

_LAMBADA = [
    (r"`` ?", '"'),
    (r" ?''", '"'),
    (r" " + _CONTRACTIONS + r"(?= |$)", r"\1"),
    (r" ([,.;:!?)\]])", r"\1"),
    (r"([(\[]) ", r"\1"),
]

DETOKENIZERS = {"wikitext": _WIKITEXT, "ptb": _PTB, "lambada": _LAMBADA, "none": []}
INVERSES = {"wikitext": _WIKITEXT_INVERSE, "ptb": _PTB_INVERSE, "none": []}


def _apply(rules, text: str) -> str:
    out = []
    for line in text.split("\n"):  # every rule works within a line; newlines are kept as they are
        for pattern, repl in rules:
            line = re.sub(pattern, repl, line)
        out.append(line)
    return "\n".join(out)


def detokenize(text: str, name: str) -> str:
    if name not in DETOKENIZERS:
        raise ValueError(f"unknown detokenizer {name!r}; choose one of {', '.join(DETOKENIZERS)}")
    return _apply(DETOKENIZERS[name], text)


def retokenize(text: str, name: str) -> str:
    """The inverse of `detokenize(., name)` (for the invertible ones)."""
    if name not in INVERSES:
        raise ValueError(f"detokenizer {name!r} has no inverse; invertible: {', '.join(INVERSES)}")
    return _apply(INVERSES[name], text)
