"""`webtext eval`: zero-shot language-modelling evaluation, as the GPT-2 paper reports it (§3).

Perplexity (`--format text` or `jsonl`). Each document (a text file is one document; a JSON-lines
file has one per line) is detokenized (`webtext.gpt2.detokenize`), encoded without special tokens
and prefixed with `<|endoftext|>`, so its first token is scored too. The tokens are scored in chunks
of `stride` (the first chunk: the whole context); each chunk is predicted by one window of up to
`block_size` tokens that ends right before the chunk's last token, so every scored token sees at
least `block_size - stride` tokens of context and no token is scored twice. With `stride` = the
context (the default), this is exactly lm-evaluation-harness's `loglikelihood_rolling`.
Reported:

    token_perplexity  exp(NLL / scored tokens)
    word_perplexity   exp(NLL / words), words = the dataset's own count (whitespace-separated words
                      of the text *before* detokenizing), as the paper normalises
    bits_per_byte     NLL / ln 2 / UTF-8 bytes of the text the model read (after detokenizing)

LAMBADA (`--format lambada`): JSON lines with `text`; the last word is everything after the final
space, the context everything before it. Context and word are encoded as lm-evaluation-harness does
(the word's tokens are those the whole text adds after the context's tokens); the model must
predict *all* the word's tokens greedily (argmax at each position) to count as correct. Reported:
`accuracy` and `perplexity` = exp(-mean over examples of the word's log-likelihood).

Checkpoints: a project run folder / `ckpt.pt`, or any folder `webtext import-hf` accepts (a Hugging
Face GPT-2 folder, OpenAI's release), imported on the fly into a temporary folder. The tokenizer is
the checkpoint's (the project's one loader, content hash checked), or `tokenizer`.

Windows and examples are batched (`batch_size`); right padding never changes a causal model's
scores for the real positions. fp32 by default on every device (`dtype="bfloat16"` for speed on GPUs).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from webtext.errors import ConfigError, InputError

FORMATS = ("text", "jsonl", "lambada")


@dataclass
class EvalConfig:
    checkpoint: str
    data: str
    format: str = "text"
    detokenizer: str = "none"
    stride: int | None = None  # None: the model's context (no overlap, lm-evaluation-harness's windows)
    batch_size: int = 4
    device: str = "auto"
    dtype: str = "float32"
    field: str = "text"
    tokenizer: str | None = None
    limit: int | None = None  # only the first N documents / examples


# ---------------------------------------------------------------------------- model and tokenizer


def load_model(checkpoint: str, device: str, tokenizer: str | None = None):
    """(model in eval mode, tiktoken.Encoding, description) from a project checkpoint or a folder
    that `webtext import-hf` accepts."""
    from webtext.gpt2.checkpoint import load_checkpoint, model_from_checkpoint
    from webtext.gpt2.sample import tokenizer_for_checkpoint

    path = Path(checkpoint)
    if path.is_dir() and not (path / "ckpt.pt").exists() and ((path / "config.json").exists() or (path / "hparams.json").exists()):
        from webtext.gpt2.convert import import_checkpoint

        with tempfile.TemporaryDirectory(prefix="webtext-eval-") as tmp:
            ckpt = load_checkpoint(import_checkpoint(path, tmp))
            enc, _ = tokenizer_for_checkpoint(ckpt, tokenizer)
            model, _ = model_from_checkpoint(ckpt, device)
        return model, enc, f"imported:{path}"
    ckpt = load_checkpoint(path)
    enc, _ = tokenizer_for_checkpoint(ckpt, tokenizer)
    model, _ = model_from_checkpoint(ckpt, device)
    return model, enc, ckpt["path"]


def _device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _autocast(device: str, dtype: str):
    import contextlib

    if dtype == "float32":
        return contextlib.nullcontext()
    if dtype != "bfloat16":
        raise ConfigError(f"--dtype must be float32 or bfloat16, not {dtype!r}")
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


# ---------------------------------------------------------------------------- windows


def rolling_windows(n_tokens: int, block: int, stride: int) -> list[tuple[int, int, int]]:
    """Windows over s = [eot] + tokens (len n_tokens + 1) that score s[1:] once each.

    Each window is (b, e, p): the model reads s[b:e] and the targets s[p:e+1] are scored (from the
    logits at positions p-1-b .. e-1-b). The first window scores the first `block` tokens; each later
    one the next `stride` tokens, with the longest context that fits (e - b = block when possible)."""
    if not 0 < stride <= block:
        raise ConfigError(f"--stride must be in 1..{block} (the model's context), got {stride}")
    windows = []
    p = 1
    size = block
    while p <= n_tokens:
        q = min(p + size, n_tokens + 1)  # targets s[p:q]
        e = q - 1
        b = max(0, e - block)
        windows.append((b, e, p))
        p, size = q, stride
    return windows


def _score(model, batch: list[tuple[list[int], list[int], int]], device: str, dtype: str):
    """For each (input ids, target ids, first scored position): (sum of log-likelihoods, all greedy?)."""
    width = max(len(x) for x, _, _ in batch)
    x = torch.zeros(len(batch), width, dtype=torch.long)
    y = torch.full((len(batch), width), -1, dtype=torch.long)
    for i, (inp, tgt, start) in enumerate(batch):
        x[i, : len(inp)] = torch.tensor(inp)
        y[i, start : start + len(tgt)] = torch.tensor(tgt)
    x, y = x.to(device), y.to(device)
    with torch.no_grad(), _autocast(device, dtype):
        logits, _ = model(x)
    logits = logits.float()
    logp = F.log_softmax(logits, dim=-1)
    mask = y >= 0
    ll = torch.where(mask, logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1), 0.0).sum(dim=1)
    greedy = (~mask | (logits.argmax(dim=-1) == y)).all(dim=1)
    return ll.double().cpu().tolist(), greedy.cpu().tolist()


# ---------------------------------------------------------------------------- the two tasks


def perplexity(model, enc, docs: list[str], *, detokenizer: str = "none", stride: int | None = None,
               batch_size: int = 4, device: str = "cpu", dtype: str = "float32") -> dict:
    from webtext.gpt2.detokenize import detokenize
    from webtext.progress import Progress

    block = model.config.block_size
    stride = stride or block
    words = sum(len(d.split()) for d in docs)
    texts = [detokenize(d, detokenizer) for d in docs]
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    jobs = []  # (input, targets, first scored index in the input)
    n_tokens = 0
    for text in texts:
        s = [enc.eot_token] + enc.encode_ordinary(text)
        n_tokens += len(s) - 1
        for b, e, p in rolling_windows(len(s) - 1, block, stride):
            jobs.append((s[b:e], s[p : e + 1], p - 1 - b))
    nll = 0.0
    t0 = time.monotonic()
    with Progress("eval", unit="windows", total=len(jobs)) as prog:
        for i in range(0, len(jobs), batch_size):
            ll, _ = _score(model, jobs[i : i + batch_size], device, dtype)
            nll -= sum(ll)
            prog.update(len(ll))
    seconds = time.monotonic() - t0
    return {
        "documents": len(docs), "tokens": n_tokens, "words": words, "bytes": n_bytes, "windows": len(jobs),
        "block_size": block, "stride": stride, "nll": nll,
        "token_perplexity": math.exp(nll / max(n_tokens, 1)),
        "word_perplexity": math.exp(nll / max(words, 1)),
        "bits_per_byte": nll / math.log(2) / max(n_bytes, 1),
        "seconds": round(seconds, 3), "tokens_per_s": round(n_tokens / max(seconds, 1e-9), 1),
    }


def split_last_word(text: str) -> tuple[str, str]:
    """(context, " last word"): the last word is everything after the final space."""
    if " " not in text.strip():
        raise ValueError("no space: no context before the last word")
    context, word = text.rsplit(" ", 1)
    return context, " " + word


def lambada(model, enc, examples: list[str], *, detokenizer: str = "none", batch_size: int = 4,
            device: str = "cpu", dtype: str = "float32") -> dict:
    from webtext.gpt2.detokenize import detokenize
    from webtext.progress import Progress

    block = model.config.block_size
    jobs = []
    for i, raw in enumerate(examples):
        try:
            context, word = split_last_word(detokenize(raw, detokenizer))
        except ValueError as exc:
            raise InputError(f"example {i + 1}: {exc}") from None
        ctx = enc.encode_ordinary(context)
        whole = enc.encode_ordinary(context + word)
        target = whole[len(ctx):]
        seq = (ctx + target)[-(block + 1):]
        inp = seq[:-1]
        jobs.append((inp, target, len(inp) - len(target)))
    lls, correct = [], []
    t0 = time.monotonic()
    with Progress("eval lambada", unit="examples", total=len(jobs)) as prog:
        for i in range(0, len(jobs), batch_size):
            ll, greedy = _score(model, jobs[i : i + batch_size], device, dtype)
            lls.extend(ll)
            correct.extend(greedy)
            prog.update(len(ll))
    seconds = time.monotonic() - t0
    n = max(len(lls), 1)
    return {
        "examples": len(lls), "correct": sum(correct), "accuracy": sum(correct) / n,
        "perplexity": math.exp(-sum(lls) / n), "block_size": block,
        "seconds": round(seconds, 3), "examples_per_s": round(len(lls) / max(seconds, 1e-9), 1),
        "tokens_per_s": round(sum(len(j[0]) for j in jobs) / max(seconds, 1e-9), 1),
    }


def evaluate(cfg: EvalConfig) -> dict:
    """Run the evaluation `cfg` describes; returns the JSON-ready result."""
    from webtext.checks.evalsets import read_examples
    from webtext.gpt2.detokenize import DETOKENIZERS

    if cfg.format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}, not {cfg.format!r}")
    if cfg.detokenizer not in DETOKENIZERS:
        raise ConfigError(f"--detokenizer must be one of {', '.join(DETOKENIZERS)}, not {cfg.detokenizer!r}")
    if cfg.batch_size < 1:
        raise ConfigError("--batch-size must be >= 1")
    device = _device(cfg.device)
    if cfg.format == "text":
        docs = read_examples(cfg.data, "text", unit="file")
    else:
        docs = read_examples(cfg.data, "auto" if Path(cfg.data).suffix == ".parquet" else "jsonl", cfg.field)
    if cfg.limit:
        docs = docs[: cfg.limit]
    if not docs:
        raise InputError("no examples in the evaluation file", path=str(cfg.data))
    model, enc, source = load_model(cfg.checkpoint, device, cfg.tokenizer)
    kw = dict(detokenizer=cfg.detokenizer, batch_size=cfg.batch_size, device=device, dtype=cfg.dtype)
    if cfg.format == "lambada":
        result = lambada(model, enc, docs, **kw)
    else:
        result = perplexity(model, enc, docs, stride=cfg.stride, **kw)
    return {"task": "lambada" if cfg.format == "lambada" else "perplexity", "model": source, "device": device,
            "config": asdict(cfg), **result}
