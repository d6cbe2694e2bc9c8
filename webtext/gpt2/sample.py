"""`webtext sample`: generate text from a checkpoint, with temperature, top-k, top-p and a seed.

Tokenization uses a tokenizer folder holding GPT-2's `encoder.json` + `vocab.bpe` (OpenAI's files, or
the ones `webtext tokenizer train` writes). It is turned into a `tiktoken.Encoding` by the project's
one loader (`webtext.tokenizer.files`), which reads the files themselves every time:
`tiktoken.get_encoding("gpt2")` downloads, and tiktoken's file loaders cache by path (stale after a
retrain into the same folder). By default the folder is the copy that `webtext train` keeps beside the
checkpoint (`OUT/tokenizer/`), else the one recorded in the checkpoint; a tokenizer whose content hash
differs from the one the model's training data was made with is refused.

Sampling rules, applied in this order to the next-token logits (real vocabulary only: the model never
returns the padded ids, so they cannot be sampled):

1. temperature: logits / T; T = 0 means greedy (argmax), and then top-k/top-p do not matter;
2. top-k: keep the k largest logits (ties at the k-th value are kept too);
3. top-p (nucleus, Holtzman et al. 2019): keep the smallest set of most probable tokens whose
   probability reaches p (the most probable token is always kept);
4. draw from the renormalised distribution with a `torch.Generator` seeded by `--seed`, so the same
   seed, checkpoint and prompt give the same text on the same device.
"""

from __future__ import annotations

from pathlib import Path

import torch

from webtext.errors import ConfigError

EOT = "<|endoftext|>"


def load_tokenizer(folder: str | Path, expected_sha256: str | None = None, made_with: str = "the model"):
    """A `tiktoken.Encoding` built offline from the files in `folder` (read now, never a cache);
    refused if its content hash is not `expected_sha256` (when given). See webtext/tokenizer/files.py."""
    from webtext.tokenizer.files import open_tokenizer

    return open_tokenizer(folder, expected_sha256, made_with).encoding()


def filter_logits(logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None) -> torch.Tensor:
    """Set the logits outside top-k / the top-p nucleus to -inf. `logits`: (B, V), already tempered."""
    if top_k is not None and 0 < top_k < logits.size(-1):
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and 0.0 < top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens strictly more probable already reach p
        before = torch.cumsum(probs, dim=-1) - probs
        drop_sorted = before >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(
    model,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    stop_token: int | None = None,
) -> torch.Tensor:
    """Extend `idx` (B, T) by up to `max_new_tokens` tokens. The context is cropped to block_size.
    Stops early when every row has produced `stop_token`."""
    model.eval()
    block = model.config.block_size
    done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
    for _ in range(max_new_tokens):
        logits, _ = model(idx[:, -block:])
        logits = logits[:, -1, :].float()
        if temperature == 0:
            nxt = torch.argmax(logits, dim=-1, keepdim=True)
        else:
            logits = filter_logits(logits / temperature, top_k, top_p)
            probs = torch.softmax(logits, dim=-1)
            nxt = torch.multinomial(probs, num_samples=1, generator=generator)
        idx = torch.cat([idx, nxt], dim=1)
        if stop_token is not None:
            done |= nxt.squeeze(1) == stop_token
            if bool(done.all()):
                break
    return idx


def checkpoint_tokenizer_sha256(ckpt: dict) -> str | None:
    """The content hash of the tokenizer a checkpoint's training data was made with, if recorded."""
    return ckpt.get("tokenizer_sha256") or (ckpt.get("meta") or {}).get("tokenizer_sha256")


def tokenizer_for_checkpoint(ckpt: dict, override: str | None = None):
    """(tiktoken.Encoding, folder) to use with a checkpoint: `override`, else the copy kept beside it,
    else the folder it recorded; refused (`TokenizerMismatch`) if its content hash differs from the
    one the model's training data was made with."""
    from webtext.tokenizer.files import is_tokenizer_folder

    expected = checkpoint_tokenizer_sha256(ckpt)
    made_with = f"the model in {ckpt['path']}"
    if override:
        return load_tokenizer(override, expected, made_with), override  # a bad folder gets its clear error
    for c in (str(Path(ckpt["path"]).parent / "tokenizer"), ckpt.get("tokenizer")):
        if c and is_tokenizer_folder(c):
            return load_tokenizer(c, expected, made_with), c
    raise ConfigError(
        f"{ckpt['path']}: no tokenizer stored with this checkpoint; pass --tokenizer DIR (a folder with encoder.json and vocab.bpe)"
    )


def sample_text(
    checkpoint: str,
    prompt: str,
    *,
    num_samples: int = 1,
    max_new_tokens: int = 100,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int = 1337,
    tokenizer: str | None = None,
    device: str = "auto",
) -> list[str]:
    """Generated continuations (the text after the prompt) for `prompt`."""
    from webtext.gpt2.checkpoint import load_checkpoint, model_from_checkpoint

    if temperature < 0:
        raise ConfigError("--temperature must be >= 0")
    if top_p is not None and not 0 < top_p <= 1:
        raise ConfigError("--top-p must be in (0, 1]")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    ckpt = load_checkpoint(checkpoint)
    enc, _ = tokenizer_for_checkpoint(ckpt, tokenizer)
    model, _ = model_from_checkpoint(ckpt, device)
    ids = enc.encode(prompt, allowed_special={EOT}) if prompt else []
    if not ids:  # an empty prompt starts from <|endoftext|>, as GPT-2's unconditional samples do
        ids = [enc.eot_token]
    if max(ids) >= model.config.vocab_size:
        raise ConfigError(f"the tokenizer produces id {max(ids)}, outside the model's vocabulary of {model.config.vocab_size}")
    gen = torch.Generator(device=device).manual_seed(seed)
    x = torch.tensor([ids] * num_samples, dtype=torch.long, device=device)
    y = generate(model, x, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, generator=gen,
                 stop_token=enc.eot_token)
    texts = []
    for row in y[:, len(ids):].tolist():
        if enc.eot_token in row:
            row = row[: row.index(enc.eot_token)]
        texts.append(enc.decode(row))
    return texts
