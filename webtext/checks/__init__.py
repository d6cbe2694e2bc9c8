"""The paper's checks on the corpus: n-gram train/test overlap (Bloom filter) and decontamination.

`bloom.py` (normalisation, hashing, the filter), `overlap.py` (build the corpus filter, report
overlap, drop contaminated documents), `evalsets.py` (evaluation files as examples). The model's
zero-shot evaluation is `webtext.gpt2.eval`.
"""
