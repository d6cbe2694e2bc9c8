"""`webtext tokenizer train` and `webtext tokenize`.

    webtext tokenizer train --shards OUT/shards --vocab-size 50257 --out OUT/tokenizer
    webtext tokenize --shards OUT/shards --tokenizer OUT/tokenizer --out OUT/tokens

Nothing heavy is imported here; the work happens in `bpe.py` and `tokenize.py`.
"""

from __future__ import annotations

import argparse


def _train(args: argparse.Namespace) -> int:
    from webtext.tokenizer.bpe import train

    train(
        args.shards,
        args.out,
        vocab_size=args.vocab_size,
        workers=args.workers,
        max_words=args.max_words,
        min_pair_count=args.min_pair_count,
    )
    return 0


def _tokenize(args: argparse.Namespace) -> int:
    from webtext.tokenizer.tokenize import tokenize_corpus

    tokenize_corpus(args.shards, args.tokenizer, args.out, val_permille=args.val_permille, workers=args.workers,
                    min_val_tokens=args.min_val_tokens)
    return 0


def add_commands(subparsers) -> None:
    from webtext.tokenizer.bpe import DEFAULT_MAX_WORDS, DEFAULT_VOCAB_SIZE
    from webtext.tokenizer.tokenize import DEFAULT_VAL_PERMILLE, MIN_VAL_TOKENS

    tok = subparsers.add_parser(
        "tokenizer",
        help="train the byte-level BPE tokenizer on the shards",
        description="The bundled byte-level BPE tokenizer (GPT-2's scheme).",
        epilog="examples:\n  webtext tokenizer train --shards webtext-out/shards --vocab-size 50257 --out tok/",
    )
    actions = tok.add_subparsers(dest="action", metavar="ACTION")
    tok.set_defaults(func=lambda args: (tok.print_help(), 2)[1])
    train = actions.add_parser(
        "train",
        help="train merges on Parquet shards; write encoder.json, vocab.bpe, tokenizer.json, tokenizer.tiktoken",
        description="Stream the shards' text column, count GPT-2 pre-tokens in parallel, learn BPE merges.",
        epilog="examples:\n  webtext tokenizer train --shards webtext-out/shards --vocab-size 50257 --out tok/\n"
               "  webtext tokenizer train --shards webtext-out/shards --vocab-size 2048 --out tok-small/ --workers 2",
    )
    train.add_argument("--shards", required=True, help="folder with webtext-*.parquet (or any *.parquet below it)")
    train.add_argument("--out", required=True, help="folder to write the tokenizer files into")
    train.add_argument("--vocab-size", type=int, default=DEFAULT_VOCAB_SIZE, help="ids including <|endoftext|> (default %(default)s)")
    train.add_argument("--workers", type=int, default=None, help="counting processes (default: CPU count)")
    train.add_argument(
        "--max-words", type=int, default=DEFAULT_MAX_WORDS, help="cap on distinct words held in memory (default %(default)s)"
    )
    train.add_argument("--min-pair-count", type=int, default=2, help="stop when the best pair is rarer (default %(default)s)")
    train.set_defaults(func=_train)

    tz = subparsers.add_parser(
        "tokenize",
        help="encode the shards into train.bin / val.bin (uint16) with a trained tokenizer",
        description="Shards -> train.bin, val.bin (uint16, <|endoftext|> after each document) and meta.json. "
                    "Documents are split by a hash of their text; val.bin always gets at least --min-val-tokens.",
        epilog="examples:\n  webtext tokenize --shards webtext-out/shards --tokenizer tok/ --out tokens/\n"
               "  webtext tokenize --shards webtext-out/shards --tokenizer ../shared/data/gpt2 --out tokens-gpt2/ --val-permille 10",
    )
    tz.add_argument("--shards", required=True, help="folder with webtext-*.parquet (or any *.parquet below it)")
    tz.add_argument("--tokenizer", required=True, help="tokenizer folder (tokenizer.tiktoken or encoder.json)")
    tz.add_argument("--out", required=True, help="folder for train.bin, val.bin, meta.json")
    tz.add_argument(
        "--val-permille", type=int, default=DEFAULT_VAL_PERMILLE, help="documents per 1000 sent to val.bin by hash (default %(default)s)"
    )
    tz.add_argument(
        "--min-val-tokens", type=int, default=MIN_VAL_TOKENS,
        help="val.bin gets at least this many tokens (and one document): documents move from train in hash order "
             "when the split falls short, so a small corpus still has a validation split; 0 = off (default %(default)s)",
    )
    tz.add_argument("--workers", type=int, default=None, help="encoding processes (default: CPU count)")
    tz.set_defaults(func=_tokenize)
