"""`webtext train`: pre-train GPT-2 on the token files of `webtext tokenize`.

The recipe (GPT-2's paper gives the batch and context; the rest follows GPT-3's paper for the same
sizes, as nanoGPT and llm.c do):

- batch of 512 sequences x 1,024 tokens = 524,288 tokens per optimizer step (`--total-batch-tokens`),
  reached by gradient accumulation over micro-batches of `--batch-size` sequences on each process;
- AdamW, betas (0.9, 0.95), eps 1e-8, weight decay 0.1 on the 2-D weights only (matrices and
  embeddings; biases and LayerNorm gains are not decayed), fused kernel on CUDA;
- learning rate: linear warmup over `--warmup-steps`, then cosine decay to `--min-lr` at `--max-steps`;
- gradients clipped to a global norm of 1.0;
- bf16 autocast on CUDA (fp32 master weights, no loss scaling needed), TF32 for the fp32 matmuls,
  `torch.compile` on by default on CUDA, flash attention through `scaled_dot_product_attention`;
- several GPUs: `torchrun --nproc_per_node N -m webtext.cli train ...` runs DDP; `--fsdp` (the
  default for gpt2-1558m when there is more than one process) shards parameters, gradients and
  optimizer state with FSDP2 so the 1.5B model fits.

Every `--eval-interval` steps the validation loss and perplexity are computed on the same first
`--eval-iters` batches of val.bin. Each step logs loss, learning rate, gradient norm, tokens/s and MFU
(model FLOPs utilisation: achieved training FLOPs over the accelerator's bf16 peak) to the console and
to `OUT/log.jsonl`.

Checkpoints (`OUT/ckpt.pt`, see checkpoint.py) are written atomically every `--ckpt-interval` steps
and at the end. `--resume` restores the model, AdamW's moments, the step (hence the learning-rate
schedule), the data position and every RNG, so the resumed run produces the same losses, step for
step, as one that was never stopped; log lines after the checkpoint's step are dropped from
log.jsonl so the log describes one run. A non-finite loss or gradient norm stops the run before the
bad update is applied, with a message naming the step and the last good checkpoint (which is never
overwritten by non-finite weights).
"""

from __future__ import annotations

import json
import math
import os
import random
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch

from webtext.errors import ConfigError, WebtextError
from webtext.gpt2.checkpoint import clean_state_dict, load_checkpoint, save_checkpoint
from webtext.gpt2.data import TokenData, read_meta
from webtext.gpt2.model import CONFIGS, GPT, config_for


class TrainingDiverged(WebtextError):
    """The loss or gradient norm became NaN or infinite."""


@dataclass
class TrainConfig:
    data: str = ""
    out: str = ""
    model: str = "gpt2-124m"
    block_size: int | None = None  # default: the model's (1,024 for the GPT-2 sizes)
    dropout: float = 0.0
    batch_size: int = 16  # micro-batch, sequences per process per forward/backward
    total_batch_tokens: int = 512 * 1024  # tokens per optimizer step, all processes together
    max_steps: int = 10_000
    lr: float = 6e-4
    min_lr: float | None = None  # default lr / 10
    warmup_steps: int = 700
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20
    ckpt_interval: int = 1000
    log_interval: int = 1
    dtype: str = "auto"  # auto: bfloat16 on CUDA, float32 on CPU
    compile: bool | None = None  # None: on for CUDA
    device: str = "auto"
    seed: int = 1337
    fsdp: bool | None = None  # None: on for gpt2-1558m with several processes
    tokenizer: str | None = None  # folder with encoder.json + vocab.bpe (default: meta.json's)
    init_from: str | None = None  # start from these weights (e.g. made by import-hf), fresh optimizer
    peak_tflops: float | None = None  # for MFU; default from the GPU's name
    # speed switches (issue 17): each changes how the step is computed, never the loss (tests/gpt2/test_speed_options.py)
    attention: str = "auto"  # SDPA kernel: auto | flash | cudnn | efficient | math
    loss_chunk: int = 0  # 0: loss on the full logits; N: fused linear + cross-entropy over chunks of N tokens
    compile_mode: str = "default"  # torch.compile mode: default | reduce-overhead | max-autotune | max-autotune-no-cudagraphs
    prefetch: bool = False  # prepare the next batch in a background thread while the GPU computes
    fp8: bool = False  # float8 matmuls in the blocks' Linear layers (torchao float8 training; H100-class GPUs)

    @property
    def min_lr_value(self) -> float:
        return self.lr / 10 if self.min_lr is None else self.min_lr


# Options that may differ when resuming: they change neither the model nor the loss curve's inputs
# (changing max_steps/lr does change the schedule; that is the user's explicit choice).
RESUME_OVERRIDES = {"data", "out", "max_steps", "lr", "min_lr", "eval_interval", "eval_iters", "ckpt_interval",
                    "log_interval", "compile", "device", "peak_tflops", "tokenizer",
                    "attention", "loss_chunk", "compile_mode", "prefetch", "fp8"}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")

# bf16 dense peak FLOP/s of accelerators by name (vendor datasheets).
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "4090": 165.0}


def peak_flops(device: torch.device, override_tflops: float | None = None) -> float | None:
    if override_tflops:
        return override_tflops * 1e12
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tf in PEAK_BF16_TFLOPS.items():
        if key in name:
            return tf * 1e12
    return None


def get_lr(step: int, cfg: TrainConfig) -> float:
    """Linear warmup to lr, then cosine decay to min_lr at max_steps, then min_lr."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    if step >= cfg.max_steps:
        return cfg.min_lr_value
    ratio = (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps)
    coeff = 0.5 * (1.0 + math.cos(math.pi * ratio))
    return cfg.min_lr_value + coeff * (cfg.lr - cfg.min_lr_value)


def apply_speed_options(model: GPT, cfg: TrainConfig, device: torch.device, use_compile: bool) -> torch.nn.Module:
    """Apply the speed switches of `cfg` to `model` (in place) and return the module to call for
    forward/backward: the model, or its torch.compile'd wrapper. `webtext train` and
    benchmarks/train_throughput.py both build their step through here."""
    try:
        model.set_attention_backend(cfg.attention, device.type)
    except ValueError as exc:
        raise ConfigError(f"--attention: {exc}") from None
    if cfg.loss_chunk < 0:
        raise ConfigError(f"--loss-chunk must be >= 0, got {cfg.loss_chunk}")
    model.loss_chunk_rows = cfg.loss_chunk
    if cfg.fp8:
        convert_to_fp8(model, device)
    if cfg.compile_mode not in COMPILE_MODES:
        raise ConfigError(f"--compile-mode {cfg.compile_mode!r}: choose one of {', '.join(COMPILE_MODES)}")
    if not use_compile:
        if cfg.compile_mode != "default":
            raise ConfigError(f"--compile-mode {cfg.compile_mode} needs torch.compile (drop --no-compile)")
        return model
    return torch.compile(model, mode=None if cfg.compile_mode == "default" else cfg.compile_mode)


def convert_to_fp8(model: GPT, device: torch.device) -> None:
    """Float8 matmuls (torchao float8 training, dynamic tensorwise scaling) in every Linear of the
    blocks; the tied embedding / lm_head matrix stays in bf16. Master weights, optimizer state and
    checkpoints are unchanged (plain float32 parameters, same names). On a CPU torch's reference FP8
    matmul runs it (for checks, not for speed)."""
    if device.type == "cuda" and torch.cuda.get_device_capability(device) < (8, 9):
        raise ConfigError("--fp8 needs a GPU with FP8 tensor cores (compute capability 8.9+: L4, L40S, H100, H200)")
    try:
        from torchao.float8 import convert_to_float8_training
    except ImportError:
        raise ConfigError("--fp8 needs torchao (pip install torchao; the project pins 0.18.0)") from None
    convert_to_float8_training(model.transformer.h)


def configure_optimizer(model: torch.nn.Module, cfg: TrainConfig, device_type: str) -> torch.optim.AdamW:
    """AdamW with weight decay on tensors of 2 or more dimensions only (Linear weights, embeddings):
    decaying biases and LayerNorm gains only hurts (they set scales, not features)."""
    params = [p for p in model.parameters() if p.requires_grad]  # .parameters() lists tied wte/lm_head once
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # fused=True: one kernel for the whole update instead of a dozen per tensor (CUDA only)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), eps=1e-8,
                             fused=(device_type == "cuda"))


# --------------------------------------------------------------------------------------------
# distributed setup


class Dist:
    """Process layout: a single process, or one of torchrun's (RANK/WORLD_SIZE/LOCAL_RANK)."""

    def __init__(self, device_opt: str):
        self.enabled = "RANK" in os.environ and int(os.environ.get("WORLD_SIZE", "1")) > 1
        self.rank = int(os.environ.get("RANK", 0)) if self.enabled else 0
        self.local_rank = int(os.environ.get("LOCAL_RANK", 0)) if self.enabled else 0
        self.world_size = int(os.environ.get("WORLD_SIZE", 1)) if self.enabled else 1
        if device_opt == "auto":
            device_opt = "cuda" if torch.cuda.is_available() else "cpu"
        if device_opt.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError("--device cuda was asked for but no CUDA GPU is available")
        if self.enabled and device_opt.startswith("cuda"):
            device_opt = f"cuda:{self.local_rank}"
        self.device = torch.device(device_opt)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.enabled:
            import torch.distributed as dist

            if not dist.is_initialized():
                dist.init_process_group(backend="nccl" if self.device.type == "cuda" else "gloo")
        self.master = self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            import torch.distributed as dist

            dist.barrier()

    def all_reduce_mean(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            import torch.distributed as dist

            dist.all_reduce(t, op=dist.ReduceOp.AVG if self.device.type == "cuda" else dist.ReduceOp.SUM)
            if self.device.type != "cuda":  # gloo has no AVG
                t /= self.world_size
        return t

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        if self.enabled:
            import torch.distributed as dist

            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def gather_object(self, obj):
        if not self.enabled:
            return [obj]
        import torch.distributed as dist

        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out


# --------------------------------------------------------------------------------------------
# RNG state: saved per process so dropout and anything random continue identically


def rng_state(device: torch.device) -> dict:
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python": random.getstate(),
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype(np.uint32), n[2], n[3], n[4]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# --------------------------------------------------------------------------------------------
# logging


class RunLog:
    """Console lines from the master process and one JSON object per line in OUT/log.jsonl."""

    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled
        self.quiet = os.environ.get("WEBTEXT_QUIET") == "1"

    def truncate_after(self, step: int) -> None:
        """Drop records of steps at or after `step` (they were made after the checkpoint we resume from)."""
        if not self.enabled or not self.path.exists():
            return
        keep = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a half-written last line from a crash
            if rec.get("step", -1) < step:
                keep.append(line)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(k + "\n" for k in keep), encoding="utf-8")
        os.replace(tmp, self.path)

    def write(self, record: dict, line: str | None = None) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if line and not self.quiet:
            print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------


def _data_tokenizer(cfg: TrainConfig, meta: dict, out: Path, master: bool, stored: str | None) -> tuple[str | None, str | None]:
    """(folder of the tokenizer kept with the run, its content hash).

    The tokenizer is `--tokenizer`, else meta.json's. It is read (never from a cache keyed by path)
    and refused when its content hash differs from the one the token files were made with
    (meta.json's `tokenizer_sha256`). A new run keeps a copy, written from the very bytes that were
    hashed, in OUT/tokenizer/ so that sampling and export find it later; a resumed run checks the
    copy it kept instead."""
    from webtext.tokenizer.files import open_tokenizer

    expected = meta.get("tokenizer_sha256")
    made_with = f"the token files in {cfg.data}"
    if stored:  # resume: the copy this run kept (the data must still be the same tokens)
        return stored, open_tokenizer(stored, expected, made_with).sha256
    folder = cfg.tokenizer or meta.get("tokenizer")
    if not folder:
        return None, expected
    tok = open_tokenizer(folder, expected, made_with)
    if tok.n_vocab > meta["vocab_size"]:
        raise ConfigError(f"tokenizer {tok.folder} has {tok.n_vocab:,} ids, more than the token files' vocab_size "
                          f"{meta['vocab_size']:,} (meta.json in {cfg.data}): it is not the tokenizer of this data")
    return (str(tok.copy_to(out / "tokenizer")) if master else None), tok.sha256


def _init_from(model: GPT, path: str) -> None:
    """Load pre-trained weights (fine-tuning); a shorter context keeps the first position embeddings."""
    init = load_checkpoint(path)
    theirs, ours = init["model_config"], model.config
    for key in ("n_layer", "n_head", "n_embd", "vocab_size"):
        if theirs[key] != getattr(ours, key):
            raise ConfigError(f"--init-from {path}: {key} is {theirs[key]}, this run's model has {getattr(ours, key)}")
    if theirs["block_size"] < ours.block_size:
        raise ConfigError(f"--init-from {path}: block_size {theirs['block_size']} < this run's {ours.block_size}")
    sd = clean_state_dict(init["model"])
    sd["transformer.wpe.weight"] = sd["transformer.wpe.weight"][: ours.block_size]
    for key in ("transformer.wte.weight", "lm_head.weight"):  # re-pad to this model's padded size
        w = sd.get(key)
        if w is not None and w.shape[0] != ours.padded_vocab_size:
            padded = torch.zeros(ours.padded_vocab_size, w.shape[1], dtype=w.dtype)
            padded[: ours.vocab_size] = w[: ours.vocab_size]
            sd[key] = padded
    model.load_state_dict(sd)


def _state_dicts(raw_model, optimizer, fsdp: bool) -> tuple[dict, dict]:
    if fsdp:  # gather the full (unsharded) tensors onto the CPU of every rank
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

        return get_state_dict(raw_model, optimizer, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    return raw_model.state_dict(), optimizer.state_dict()


def _load_state_dicts(raw_model, optimizer, model_sd: dict, optim_sd: dict | None, fsdp: bool) -> None:
    if fsdp:
        from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

        set_state_dict(raw_model, optimizer, model_state_dict=model_sd, optim_state_dict=optim_sd,
                       options=StateDictOptions(full_state_dict=True))
        return
    raw_model.load_state_dict(model_sd)
    if optim_sd is not None:
        optimizer.load_state_dict(optim_sd)


def train(cfg: TrainConfig, *, resume: bool = False, stop_after: int | None = None,
          explicit: set[str] | None = None) -> dict:
    """Train (or continue training) and return a summary dict: step, train_loss, val_loss, checkpoint.

    `stop_after`: stop after this many optimizer steps in this invocation (e.g. to fit a job's time
    limit), with a checkpoint; `--resume` continues. `explicit`: the option names the user set on the
    command line; on resume, any of them outside RESUME_OVERRIDES that differ from the checkpoint's is
    an error rather than silently ignored.
    """
    out = Path(cfg.out)
    ckpt_path = out / "ckpt.pt"
    ckpt = None
    if resume:
        ckpt = load_checkpoint(ckpt_path)
        if "train_config" not in ckpt or "optimizer" not in ckpt:
            raise ConfigError(f"{ckpt_path} holds weights only (e.g. from import-hf): train with --init-from {ckpt_path} instead of --resume")
        saved = TrainConfig(**ckpt["train_config"])
        for name in explicit or set():
            if name not in RESUME_OVERRIDES and getattr(cfg, name) != getattr(saved, name):
                raise ConfigError(f"--{name.replace('_', '-')} cannot change on --resume (checkpoint has {getattr(saved, name)!r})")
        cfg = replace(saved, **{f.name: getattr(cfg, f.name) for f in fields(cfg)
                                if f.name in RESUME_OVERRIDES and (explicit is None or f.name in explicit)})
    elif ckpt_path.exists():
        raise ConfigError(f"{ckpt_path} exists: pass --resume to continue that run, or choose another --out")
    if not cfg.data or not cfg.out:
        raise ConfigError("--data and --out are required")
    if cfg.model not in CONFIGS:
        raise ConfigError(f"unknown --model {cfg.model!r}; choose one of {', '.join(CONFIGS)}")

    dist = Dist(cfg.device)
    device = dist.device
    if device.type == "cuda":
        # TF32 for any fp32 matmul left outside autocast; cudnn's too
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    dtype = cfg.dtype if cfg.dtype != "auto" else ("bfloat16" if device.type == "cuda" else "float32")
    if dtype not in ("bfloat16", "float32"):
        raise ConfigError(f"--dtype {dtype!r}: choose bfloat16 or float32")
    autocast = (torch.autocast(device_type=device.type, dtype=torch.bfloat16) if dtype == "bfloat16" else nullcontext())
    use_compile = cfg.compile if cfg.compile is not None else device.type == "cuda"
    use_fsdp = cfg.fsdp if cfg.fsdp is not None else (cfg.model == "gpt2-1558m" and dist.world_size > 1)

    # seeds: the model's init must be the same on every rank (DDP also broadcasts it); data order
    # comes from TokenData's own generator
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)

    meta = read_meta(cfg.data)
    model_config = config_for(cfg.model, block_size=cfg.block_size, vocab_size=meta["vocab_size"], dropout=cfg.dropout)
    if ckpt is not None and ckpt["model_config"] != model_config.to_dict():
        raise ConfigError(f"{ckpt_path}: the checkpoint's model differs from this data/model setup")
    T = model_config.block_size
    tokens_per_micro = cfg.batch_size * T * dist.world_size
    if cfg.total_batch_tokens % tokens_per_micro:
        raise ConfigError(
            f"--total-batch-tokens {cfg.total_batch_tokens} is not a multiple of batch_size x block_size x processes = "
            f"{cfg.batch_size} x {T} x {dist.world_size} = {tokens_per_micro}"
        )
    grad_accum = cfg.total_batch_tokens // tokens_per_micro
    data = TokenData(cfg.data, cfg.batch_size, T, rank=dist.rank, world_size=dist.world_size, seed=cfg.seed, device=device,
                     prefetch=cfg.prefetch)

    if dist.master:
        out.mkdir(parents=True, exist_ok=True)
    dist.barrier()
    stored_tokenizer, tokenizer_sha256 = _data_tokenizer(cfg, meta, out, dist.master,
                                                         ckpt.get("tokenizer") if ckpt is not None else None)

    # ---- model, wrappers, optimizer ----
    model = GPT(model_config)
    if cfg.init_from and ckpt is None:
        _init_from(model, cfg.init_from)
    model.to(device)
    raw_model = model
    if use_fsdp:
        if not dist.enabled:
            raise ConfigError("--fsdp needs several processes: start with torchrun --nproc_per_node N")
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if dtype == "bfloat16" else MixedPrecisionPolicy()
        for block in model.transformer.h:  # shard per block: only one block's full weights live at a time
            fully_shard(block, mp_policy=mp)
        fully_shard(model, mp_policy=mp)
    fwd = apply_speed_options(raw_model, cfg, device, use_compile)  # before the optimizer: fp8 swaps modules
    optimizer = configure_optimizer(raw_model, cfg, device.type)
    if ckpt is not None:
        _load_state_dicts(raw_model, optimizer, clean_state_dict(ckpt["model"]), ckpt["optimizer"], use_fsdp)
    if dist.enabled and not use_fsdp:
        from torch.nn.parallel import DistributedDataParallel as DDP

        fwd = DDP(fwd, device_ids=[device.index] if device.type == "cuda" else None)

    step = 0
    log = RunLog(out / "log.jsonl", dist.master)
    if ckpt is not None:
        step = int(ckpt["step"])
        data.load_state_dict(ckpt["data"])
        states = ckpt["rng"]
        set_rng_state(states[dist.rank] if dist.rank < len(states) else states[0], device)
        log.truncate_after(step)
        log.write({"type": "resume", "step": step, "checkpoint": str(ckpt_path)}, f"resumed from {ckpt_path} at step {step}")
        del ckpt

    flops_per_token = raw_model.flops_per_token(T)
    peak = peak_flops(device, cfg.peak_tflops)
    n_params = raw_model.num_params()
    if step == 0 and dist.master:
        log.write(
            {"type": "start", "step": 0, "model": cfg.model, "params": n_params, "model_config": model_config.to_dict(),
             "train_config": asdict(cfg), "grad_accum": grad_accum, "world_size": dist.world_size, "device": str(device),
             "dtype": dtype, "compile": use_compile, "fsdp": use_fsdp},
            f"{cfg.model}: {n_params:,} parameters, {cfg.total_batch_tokens:,} tokens/step = "
            f"{cfg.batch_size} x {T} x {dist.world_size} proc x {grad_accum} accum; {device}, {dtype}, "
            f"compile={use_compile}, fsdp={use_fsdp}",
        )

    def checkpoint(at_step: int) -> None:
        model_sd, optim_sd = _state_dicts(raw_model, optimizer, use_fsdp)
        rngs = dist.gather_object(rng_state(device))
        if dist.master:
            save_checkpoint(
                {"model_config": model_config.to_dict(), "model": model_sd, "optimizer": optim_sd,
                 "train_config": asdict(cfg), "step": at_step, "data": data.state_dict(), "rng": rngs,
                 "tokenizer": stored_tokenizer, "tokenizer_sha256": tokenizer_sha256, "meta": meta},
                ckpt_path,
            )
        dist.barrier()

    @torch.no_grad()
    def evaluate() -> float:
        fwd.eval()
        total = torch.zeros(2, device=device, dtype=torch.float64)
        for x, y in data.val_batches(cfg.eval_iters):
            with autocast:
                _, loss = fwd(x, y)
            total[0] += loss.double() * y.numel()
            total[1] += y.numel()
        dist.all_reduce_sum(total)
        fwd.train()
        return (total[0] / total[1]).item()

    val_loss = None
    train_loss = None
    steps_this_run = 0
    params = [p for p in raw_model.parameters()]
    t_last = time.perf_counter()
    while True:
        if stop_after is not None and steps_this_run >= stop_after:
            break
        last = step >= cfg.max_steps
        if cfg.eval_interval > 0 and (step % cfg.eval_interval == 0 or last):
            val_loss = evaluate()
            ppl = math.exp(min(val_loss, 50.0))
            log.write({"type": "eval", "step": step, "val_loss": val_loss, "val_ppl": ppl},
                      f"step {step:6d} | val loss {val_loss:.4f} | val ppl {ppl:.2f}")
            t_last = time.perf_counter()  # do not count evaluation time as training time
        if last:
            break

        lr = get_lr(step, cfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss_accum = torch.zeros((), device=device)
        for micro in range(grad_accum):
            x, y = data.next_batch()
            sync = micro == grad_accum - 1
            if dist.enabled and not use_fsdp:
                fwd.require_backward_grad_sync = sync  # all-reduce gradients only on the last micro-step
            elif use_fsdp:
                model.set_requires_gradient_sync(sync)
            with autocast:
                _, loss = fwd(x, y)
            loss = loss / grad_accum  # the mean over the whole batch, not a sum of means
            loss_accum += loss.detach()
            loss.backward()
        dist.all_reduce_mean(loss_accum)
        norm = torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip) if cfg.grad_clip > 0 else \
            torch.nn.utils.clip_grad_norm_(params, float("inf"))
        train_loss = loss_accum.item()  # one sync per step; also what the NaN check needs
        norm_value = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        if not (math.isfinite(train_loss) and math.isfinite(norm_value)):
            have = (out / "ckpt.pt").exists()
            msg = (f"training diverged at step {step}: loss {train_loss}, gradient norm {norm_value}; the update was not applied. "
                   + (f"Last good checkpoint: {ckpt_path} (from before this step); continue with --resume, e.g. with a lower --lr"
                      if have else "no checkpoint was written yet (use a smaller --ckpt-interval); try a lower --lr"))
            log.write({"type": "diverged", "step": step, "loss": str(train_loss), "grad_norm": str(norm_value)}, msg)
            dist.barrier()
            raise TrainingDiverged(msg)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        now = time.perf_counter()
        dt, t_last = now - t_last, now
        tokens_per_s = cfg.total_batch_tokens / dt
        mfu = flops_per_token * tokens_per_s / (peak * dist.world_size) if peak else None
        if step % cfg.log_interval == 0:
            log.write(
                {"type": "train", "step": step, "loss": train_loss, "lr": lr, "grad_norm": norm_value, "dt_s": dt,
                 "tokens_per_s": tokens_per_s, "mfu": mfu},
                f"step {step:6d} | loss {train_loss:.6f} | lr {lr:.3e} | norm {norm_value:.4f} | {dt * 1000:.1f} ms | "
                f"{tokens_per_s:,.0f} tok/s" + (f" | MFU {100 * mfu:.1f}%" if mfu is not None else ""),
            )
        step += 1
        steps_this_run += 1
        if step % cfg.ckpt_interval == 0 or step == cfg.max_steps or (stop_after is not None and steps_this_run >= stop_after):
            checkpoint(step)
            t_last = time.perf_counter()

    if dist.enabled:
        import torch.distributed as tdist

        # Every rank reaches the end before any tears down its connections: without the barrier a
        # fast rank's teardown can close a gloo pair the slower rank still reads from, and gloo's
        # background thread then aborts the process (std::terminate) after training has finished.
        tdist.barrier()
        tdist.destroy_process_group()
    return {"step": step, "train_loss": train_loss, "val_loss": val_loss, "checkpoint": str(ckpt_path)}
