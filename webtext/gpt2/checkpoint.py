"""Checkpoint files: one `torch.save` dict per run folder, written atomically.

A checkpoint (`OUT/ckpt.pt`) holds everything a run needs to continue exactly where it stopped:

    version        1
    model_config   GPTConfig as a dict (vocab_size is the real vocabulary; padding is internal)
    model          the model's state_dict (padded vocabulary, as in memory)
    optimizer      AdamW's state_dict (absent in checkpoints made by `import-hf`)
    train_config   TrainConfig as a dict
    step           optimizer steps completed
    data           TokenData.state_dict(): the (epoch, cursor) data position
    rng            RNG states of every process (torch CPU/CUDA, numpy, random)
    tokenizer      the tokenizer folder used for the data (a copy is kept at OUT/tokenizer/)
    meta           the token folder's meta.json

Writes go to a temporary name in the same folder, are fsynced and then renamed over the old file, so
a crash mid-write leaves the previous checkpoint intact: there is always a usable last checkpoint.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from webtext.errors import InputError

CHECKPOINT_VERSION = 1


def save_checkpoint(obj: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as f:
        torch.save({"version": CHECKPOINT_VERSION, **obj}, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return path


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder holding ckpt.pt."""
    path = Path(path)
    if path.is_dir():
        path = path / "ckpt.pt"
    if not path.exists():
        raise InputError("checkpoint not found", path=str(path))
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    path = resolve_checkpoint(path)
    try:
        # weights_only: a checkpoint is plain tensors and builtins, so never unpickle arbitrary code
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/foreign files
        raise InputError(f"not a readable webtext checkpoint ({type(exc).__name__}: {str(exc)[:200]})", path=str(path)) from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise InputError("not a webtext GPT-2 checkpoint (no model / model_config)", path=str(path))
    ckpt["path"] = str(path)
    return ckpt


def model_from_checkpoint(path_or_ckpt, device="cpu"):
    """(model in eval mode on `device`, checkpoint dict)."""
    from webtext.gpt2.model import GPT, GPTConfig

    ckpt = path_or_ckpt if isinstance(path_or_ckpt, dict) else load_checkpoint(path_or_ckpt)
    config = GPTConfig(**ckpt["model_config"])
    model = GPT(config)
    model.load_state_dict(clean_state_dict(ckpt["model"]))
    model.to(device).eval()
    return model, ckpt


def clean_state_dict(sd: dict) -> dict:
    """Strip wrappers' prefixes (torch.compile's `_orig_mod.`, DDP's `module.`)."""
    out = {}
    for k, v in sd.items():
        for prefix in ("_orig_mod.", "module."):
            while k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out
