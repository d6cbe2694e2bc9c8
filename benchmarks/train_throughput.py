"""GPT-2 training throughput, side by side in one process: nanoGPT's model.py, this trainer, and each
of the trainer's speed switches (issue 17); plus a loss-curve check of the switches.

    # on a GPU: the whole comparison (124M, 16 x 1024, bf16, torch.compile, fused AdamW), then the
    # 200-step loss curves; the table is printed and the JSON written after every row
    python benchmarks/train_throughput.py --device cuda --mode both --nanogpt ../shared/anchors/nanogpt
    # on a CPU: the same script with a tiny model, a few steps (a smoke test of every code path)
    python benchmarks/train_throughput.py --device cpu --mode both

Rows (`--options` picks them; `--list` prints them):
- `nanogpt`: karpathy/nanoGPT's `model.py` (MIT), loaded at run time from `--nanogpt` (default
  ../shared/anchors/nanogpt/, never copied into the project), with the reference run's settings:
  vocabulary 50,304, biases, dropout 0, its own `configure_optimizers` (fused AdamW, lr 6e-4,
  betas 0.9/0.95, weight decay 0.1).
- `webtext`: this trainer's model and optimizer as `webtext train` builds them (every switch off).
- one row per switch (`attn-cudnn`, `chunked-ce`, `reduce-overhead`, `fp8`, ...), on top of `webtext`;
- `micro-2x`: a micro-batch twice as large for the same tokens per optimizer step, against
  `nanogpt-accum2` and `webtext-accum2` (2 micro-batches of the base size per step);
- `data-sync` / `data-prefetch`: batches from a token file through `TokenData`, with the loss read back
  every step as `webtext train` does (without / with the prefetch thread);
- `combined`: every switch that beat `webtext` by more than 1% (the best of each group), together
  (with `--mode both` its loss curve is checked too).

Every timed step is a whole optimizer step: forward under bf16 autocast, loss, backward (over the
micro-batches of the step), gradient clipping to 1.0, the AdamW step; random token ids drawn on the
device (as in the reference run) unless the row reads a token file. The first `--warmup` steps
(compilation, autotuning) are not timed. MFU = tokens/s x training FLOPs per token (6 N + 12 L d T,
the same figure for both trainers: the same model) / the GPU's bf16 dense peak (989 TFLOP/s for
H100/H200; `--peak-tflops` overrides).

`--mode loss` trains `--loss-steps` (200) optimizer steps from the same initial weights on the same
batches of a learnable synthetic corpus (an order-1 Markov chain over the vocabulary, 4 successors
per token; or `--data DIR`) with the trainer's schedule, for `webtext`, `webtext` again (the noise of
non-deterministic GPU kernels), and each switch; it reports each curve's largest and mean absolute
difference from `webtext`'s. A switch is "within noise" when its mean difference over the last 50
steps is at most max(2 x the rerun's, 0.02).

Results: `--out-dir` (default benchmarks/results/) gets `train_throughput-<card>-<UTC time>.json`,
rewritten after each row, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import io
import json
import math
import os
import re
import sys
import tempfile
import time
import traceback
from contextlib import nullcontext
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from webtext.gpt2.model import GPT, config_for  # noqa: E402
from webtext.gpt2.train import TrainConfig, apply_speed_options, configure_optimizer, get_lr, peak_flops  # noqa: E402

# Each switch: the TrainConfig fields it sets, its group (the `combined` row takes the best of each
# group), and what it needs. `slow`: minutes of compilation, or unlikely to pay: left out unless named.
SWITCHES = {
    "attn-cudnn": dict(cfg=dict(attention="cudnn"), group="attention", cuda=True),
    # flash is what `auto` picks on Hopper (so about the base row); efficient is the older kernel
    "attn-flash": dict(cfg=dict(attention="flash"), group="attention", slow=True),
    "attn-efficient": dict(cfg=dict(attention="efficient"), group="attention", cuda=True, slow=True),
    "chunked-ce": dict(cfg=dict(loss_chunk=-1), group="loss"),  # -1: --loss-chunk rows
    "reduce-overhead": dict(cfg=dict(compile_mode="reduce-overhead"), group="compile", compile=True),
    "max-autotune-no-cudagraphs": dict(cfg=dict(compile_mode="max-autotune-no-cudagraphs"), group="compile",
                                       compile=True, slow=True),
    "max-autotune": dict(cfg=dict(compile_mode="max-autotune"), group="compile", compile=True, slow=True),
    "cdtune": dict(cfg={}, inductor=dict(coordinate_descent_tuning=True), group="inductor", compile=True, slow=True),
    "fp8": dict(cfg=dict(fp8=True), group="fp8", cuda=True),
}
OTHER_ROWS = ("micro-2x", "data-sync", "data-prefetch", "combined")
CPU_DEFAULT = ("attn-flash", "chunked-ce", "micro-2x", "data-sync", "data-prefetch", "combined")


def log(msg: str) -> None:
    print(msg, flush=True)


# ------------------------------------------------------------------------------------------------
# the two models


def load_nanogpt(path: str | None):
    """nanoGPT's model.py as a module, from a file or its folder (never copied into the project)."""
    p = Path(path) if path else REPO.parent / "shared" / "anchors" / "nanogpt"
    if p.is_dir():
        p = p / "model.py"
    if not p.is_file():
        raise SystemExit(f"train_throughput: nanoGPT's model.py not found at {p}; pass --nanogpt PATH "
                         "(on the device machine: copy ../shared/anchors/nanogpt into an ignored folder and carry it)")
    spec = importlib.util.spec_from_file_location("nanogpt_model", p)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, p


def build_nanogpt(module, ours_config, device, use_compile):
    c = ours_config
    conf = module.GPTConfig(block_size=c.block_size, vocab_size=c.padded_vocab_size, n_layer=c.n_layer,
                            n_head=c.n_head, n_embd=c.n_embd, dropout=0.0, bias=True)
    with contextlib.redirect_stdout(io.StringIO()):  # it prints its parameter count and optimizer groups
        model = module.GPT(conf).to(device)
        optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95), device.type)
    return model, (torch.compile(model) if use_compile else model), optimizer


def build_webtext(cfg: TrainConfig, model_name: str, T: int, device, use_compile):
    model = GPT(config_for(model_name, block_size=T)).to(device)
    fwd = apply_speed_options(model, cfg, device, use_compile)  # exactly as `webtext train` does
    return model, fwd, configure_optimizer(model, cfg, device.type)


# ------------------------------------------------------------------------------------------------
# data


def synthetic_token_folder(folder: Path, n_tokens: int, vocab: int, seed: int = 0) -> Path:
    """A learnable corpus: 1,024 order-1 Markov chains over the vocabulary, each token followed by one
    of 4 fixed successors (probabilities 0.55/0.25/0.15/0.05): the loss falls from ln(vocab) towards
    the chain's entropy (about 1.1 nats), so 200 steps draw a real curve."""
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "meta.json").is_file():
        return folder
    rng = np.random.default_rng(seed)
    succ = rng.integers(0, vocab - 1, size=(vocab, 4))
    cum = np.cumsum([0.55, 0.25, 0.15, 0.05])
    chains = 1024
    n_val = max(n_tokens // 50, 65536)
    length = (n_tokens + n_val) // chains + 1
    out = np.empty((chains, length), dtype=np.uint16)
    cur = rng.integers(0, vocab - 1, size=chains)
    for t in range(length):
        out[:, t] = cur
        cur = succ[cur, np.searchsorted(cum, rng.random(chains))]
    flat = out.reshape(-1)
    flat[n_val:].tofile(folder / "train.bin")
    flat[:n_val].tofile(folder / "val.bin")
    (folder / "meta.json").write_text(json.dumps({"vocab_size": vocab, "dtype": "uint16", "synthetic": "markov-4"}))
    return folder


def random_batches(vocab: int, B: int, T: int, device):
    gen = torch.Generator(device=device).manual_seed(0)

    def batch():
        ids = torch.randint(0, vocab, (B, T + 1), device=device, generator=gen)
        return ids[:, :-1].contiguous(), ids[:, 1:].contiguous()  # as TokenData gives them

    return batch


# ------------------------------------------------------------------------------------------------
# one row of the speed table


class Bench:
    def __init__(self, args):
        self.args = args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        if self.cuda and self.device.index is None:
            self.device = torch.device("cuda", torch.cuda.current_device())
        if self.cuda:
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.model_name = args.model or ("gpt2-124m" if self.cuda else "gpt2-tiny")
        self.B = args.batch_size or (16 if self.cuda else 2)
        self.T = args.block_size or (1024 if self.cuda else 64)
        self.use_compile = args.compile if args.compile is not None else self.cuda
        self.dtype = args.dtype or ("bfloat16" if self.cuda else "float32")
        self.warmup = args.warmup if args.warmup is not None else (10 if self.cuda else 1)
        self.steps = args.steps if args.steps is not None else (50 if self.cuda else 2)
        self.loss_chunk = args.loss_chunk or (4096 if self.cuda else 48)
        self.config = config_for(self.model_name, block_size=self.T)
        with torch.device("meta"):  # shapes only, no memory
            meta_model = GPT(self.config)
        self.flops = meta_model.flops_per_token(self.T)
        self.params = meta_model.num_params(non_embedding=False)
        self.peak = peak_flops(self.device, args.peak_tflops)
        self.name = torch.cuda.get_device_name(self.device) if self.cuda else f"CPU ({os.cpu_count()} cores)"
        self.rows: list[dict] = []
        self.loss: dict = {}
        self.skipped: list[str] = []
        self.combined: dict | None = None  # the switches of the `combined` row, for the loss check
        self.t0 = time.perf_counter()
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        slug = re.sub(r"[^a-z0-9]+", "-", self.name.lower()).strip("-")
        out_dir = Path(args.out_dir) if args.out_dir else REPO / "benchmarks" / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        self.json_path = Path(args.json) if args.json else out_dir / f"train_throughput-{slug}-{stamp}.json"
        self.tmp = Path(tempfile.mkdtemp(prefix="webtext-bench-"))
        self._data_dir = None
        self.loss_steps = args.loss_steps if args.loss_steps is not None else (200 if self.cuda else 8)
        # one synthetic corpus for every row: enough windows for the loss check's steps at 2 x the micro-batch
        self.corpus_tokens = int(1.1 * (self.T + 1) * 2 * self.B * max(self.loss_steps + 2, self.warmup + self.steps + 2))

    def autocast(self):
        if self.dtype == "bfloat16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def data_dir(self) -> Path:
        if self.args.data:
            return Path(self.args.data)
        if self._data_dir is None:
            log(f"writing a synthetic token corpus of {self.corpus_tokens:,} tokens ...")
            self._data_dir = synthetic_token_folder(self.tmp / "tokens", self.corpus_tokens, self.config.vocab_size)
        return self._data_dir

    @staticmethod
    def cfg(**kw) -> TrainConfig:
        return TrainConfig(**kw)

    def reset(self):
        torch._dynamo.reset()
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
        torch.manual_seed(0)

    def run_speed(self, name: str, *, nanogpt=None, cfg: TrainConfig | None = None, micro: int | None = None,
                  accum: int = 1, data: str | None = None, inductor: dict | None = None,
                  compile_: bool | None = None) -> dict:
        """Time one configuration; `data`: None (random ids on the device), "sync" or "prefetch"."""
        B = micro or self.B
        if self.out_of_time(name):
            return {"row": name, "skipped": "time budget"}
        use_compile = self.use_compile if compile_ is None else compile_
        row = {"row": name, "micro_batch": B, "accum": accum, "tokens_per_step": B * self.T * accum,
               "compile": use_compile, "data": data or "random"}
        t_start = time.perf_counter()
        self.reset()
        saved_inductor = {}
        try:
            if inductor:
                import torch._inductor.config as ic

                for k, v in inductor.items():
                    saved_inductor[k] = getattr(ic, k)
                    setattr(ic, k, v)
            if nanogpt is not None:
                model, fwd, opt = build_nanogpt(nanogpt, self.config, self.device, use_compile)
            else:
                cfg = cfg or self.cfg()
                row["switches"] = {k: v for k, v in vars(cfg).items() if k in
                                   ("attention", "loss_chunk", "compile_mode", "prefetch", "fp8") and v != vars(TrainConfig())[k]}
                model, fwd, opt = build_webtext(cfg, self.model_name, self.T, self.device, use_compile)
            if data:
                from webtext.gpt2.data import TokenData

                loader = TokenData(self.data_dir(), B, self.T, device=self.device, prefetch=data == "prefetch")
                batch = loader.next_batch
            else:
                batch = random_batches(self.config.vocab_size, B, self.T, self.device)
            graphs = cfg is not None and nanogpt is None and cfg.compile_mode == "reduce-overhead"
            params = list(model.parameters())

            def step():
                opt.zero_grad(set_to_none=True)
                for _ in range(accum):
                    x, y = batch()
                    if graphs:
                        torch.compiler.cudagraph_mark_step_begin()
                    with self.autocast():
                        _, loss = fwd(x, y)
                    (loss / accum).backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
                if data:  # as `webtext train`: the loss is read back (and checked) every step
                    return loss.item()
                return loss

            t0 = time.perf_counter()
            for _ in range(self.warmup):
                loss = step()
            if self.cuda:
                torch.cuda.synchronize()
            row["warmup_s"] = round(time.perf_counter() - t0, 1)
            t0 = time.perf_counter()
            for _ in range(self.steps):
                loss = step()
            last = float(loss if isinstance(loss, float) else loss.item())
            elapsed = time.perf_counter() - t0
            tps = B * accum * self.T * self.steps / elapsed
            row.update(tokens_per_s=round(tps), step_ms=round(1000 * elapsed / self.steps, 2),
                       mfu=round(tps * self.flops / self.peak, 4) if self.peak else None, last_loss=round(last, 4))
            if self.cuda:
                row["max_memory_gib"] = round(torch.cuda.max_memory_allocated(self.device) / 2**30, 2)
        except Exception as exc:  # one failing switch must not end a one-shot GPU run
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"
            if self.args.verbose:
                traceback.print_exc()
        finally:
            if inductor:
                import torch._inductor.config as ic

                for k, v in saved_inductor.items():
                    setattr(ic, k, v)
            model = fwd = opt = None  # noqa: F841
        row["wall_s"] = round(time.perf_counter() - t_start, 1)
        self.rows.append(row)
        self.print_row(row)
        self.save()
        return row

    def out_of_time(self, name: str) -> bool:
        budget = self.args.time_budget
        if budget and time.perf_counter() - self.t0 > budget:
            log(f"{name:<28} skipped: --time-budget {budget:.0f} s spent")
            self.skipped.append(name)
            return True
        return False

    # -- output ------------------------------------------------------------------------------------
    def reference(self, row: dict) -> dict | None:
        """The nanoGPT row with the same tokens per optimizer step."""
        for r in self.rows:
            if r["row"].startswith("nanogpt") and r["tokens_per_step"] == row["tokens_per_step"] and "tokens_per_s" in r:
                return r
        return None

    def ratio(self, row: dict) -> float | None:
        if row["data"] != "random":  # nanoGPT's rows draw random ids on the device: not comparable
            return None
        ref = self.reference(row)
        return round(row["tokens_per_s"] / ref["tokens_per_s"], 4) if ref and "tokens_per_s" in row else None

    HEADER = f"{'row':<28} {'tokens/s':>10} {'MFU':>7} {'x nanoGPT':>9} {'ms/step':>8} {'GiB':>6} {'loss':>7} {'wall s':>7}"

    def print_row(self, r: dict) -> None:
        if len(self.rows) == 1:
            log(self.HEADER)
        if "error" in r:
            log(f"{r['row']:<28} failed: {r['error']}")
            return
        r["x_nanogpt"] = self.ratio(r)
        mfu = f"{100 * r['mfu']:.1f}%" if r.get("mfu") is not None else "n/a"
        ratio = f"{r['x_nanogpt']:.3f}" if r["x_nanogpt"] is not None else "-"
        mem = f"{r['max_memory_gib']:.1f}" if "max_memory_gib" in r else "-"
        log(f"{r['row']:<28} {r['tokens_per_s']:>10,} {mfu:>7} {ratio:>9} {r['step_ms']:>8.2f} {mem:>6} "
            f"{r['last_loss']:>7.3f} {r['wall_s']:>7.1f}")

    def save(self) -> None:
        doc = {
            "device": self.name, "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if self.cuda else None,
            "model": self.model_name, "params": self.params,
            "batch": self.B, "block": self.T, "dtype": self.dtype, "compile": self.use_compile,
            "warmup_steps": self.warmup, "timed_steps": self.steps, "flops_per_token": self.flops,
            "peak_tflops": self.peak / 1e12 if self.peak else None, "loss_chunk_rows": self.loss_chunk,
            "command": " ".join(sys.argv), "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "rows": self.rows, "loss_check": self.loss, "skipped_for_time": self.skipped,
        }
        self.json_path.write_text(json.dumps(doc, indent=2) + "\n")

    # -- the loss check ------------------------------------------------------------------------------
    def run_loss(self, name: str, cfg: TrainConfig, micro: int | None = None, accum: int = 1) -> list[float] | None:
        B = micro or self.B
        if self.out_of_time(f"loss {name}"):
            return None
        steps = self.loss_steps
        from webtext.gpt2.data import TokenData

        self.reset()
        t0 = time.perf_counter()
        sched = replace(cfg, lr=6e-4, min_lr=6e-5, warmup_steps=max(1, steps // 10), max_steps=steps)
        try:
            model, fwd, opt = build_webtext(cfg, self.model_name, self.T, self.device, self.use_compile)
            loader = TokenData(self.data_dir(), B, self.T, device=self.device, seed=1, prefetch=cfg.prefetch)
            graphs = cfg.compile_mode == "reduce-overhead"
            curve = []
            for step in range(steps):
                for group in opt.param_groups:
                    group["lr"] = get_lr(step, sched)
                opt.zero_grad(set_to_none=True)
                total = 0.0
                for _ in range(accum):
                    x, y = loader.next_batch()
                    if graphs:
                        torch.compiler.cudagraph_mark_step_begin()
                    with self.autocast():
                        _, loss = fwd(x, y)
                    (loss / accum).backward()
                    total += loss.item() / accum
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                curve.append(total)
        except Exception as exc:
            self.loss.setdefault("runs", {})[name] = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
            log(f"loss {name:<24} failed: {self.loss['runs'][name]['error']}")
            if self.args.verbose:
                traceback.print_exc()
            self.save()
            return None
        self.loss.setdefault("runs", {})[name] = {"curve": [round(v, 5) for v in curve], "wall_s": round(time.perf_counter() - t0, 1)}
        self.save()
        return curve


def diff_stats(curve, base) -> dict:
    d = np.abs(np.asarray(curve) - np.asarray(base))
    tail = d[-min(50, len(d)):]
    return {"max_abs_diff": round(float(d.max()), 5), "mean_abs_diff": round(float(d.mean()), 5),
            "tail_mean_abs_diff": round(float(tail.mean()), 5)}


# ------------------------------------------------------------------------------------------------


def selected_options(args, cuda: bool) -> list[str]:
    if args.options:
        names = [o.strip() for o in args.options.split(",") if o.strip()]
        unknown = [n for n in names if n not in SWITCHES and n not in OTHER_ROWS]
        if unknown:
            raise SystemExit(f"train_throughput: unknown option(s) {', '.join(unknown)}; --list shows them")
        return names
    if not cuda:
        return list(CPU_DEFAULT)
    return [n for n, s in SWITCHES.items() if not s.get("slow")] + list(OTHER_ROWS)


def switch_cfg(bench: Bench, name: str) -> dict:
    fields = dict(SWITCHES[name]["cfg"])
    if fields.get("loss_chunk") == -1:
        fields["loss_chunk"] = bench.loss_chunk
    return fields


def speed_mode(bench: Bench, args, options: list[str]) -> None:
    nanogpt = None
    if not args.skip_nanogpt:
        nanogpt, path = load_nanogpt(args.nanogpt)
        log(f"nanoGPT model.py: {path}")
        bench.run_speed("nanogpt", nanogpt=nanogpt)
    base = bench.run_speed("webtext")
    gains: dict[str, tuple[float, str, dict]] = {}
    for name in options:
        if name not in SWITCHES:
            continue
        sw = SWITCHES[name]
        if sw.get("cuda") and not bench.cuda:
            log(f"{name:<28} skipped: needs a CUDA GPU")
            continue
        if sw.get("compile") and not bench.use_compile:
            log(f"{name:<28} skipped: needs torch.compile (--compile)")
            continue
        row = bench.run_speed(name, cfg=bench.cfg(**switch_cfg(bench, name)), inductor=sw.get("inductor"))
        if "tokens_per_s" in row and "tokens_per_s" in base:
            gain = row["tokens_per_s"] / base["tokens_per_s"]
            row["x_webtext"] = round(gain, 4)
            group = sw["group"]
            if gain > 1.01 and gain > gains.get(group, (0.0,))[0]:
                gains[group] = (gain, name, sw)
    if "micro-2x" in options:
        if nanogpt is not None:
            bench.run_speed("nanogpt-accum2", nanogpt=nanogpt, accum=2)
        acc = bench.run_speed("webtext-accum2", accum=2)
        big = bench.run_speed("micro-2x", micro=2 * bench.B, accum=1)
        if "tokens_per_s" in big and "tokens_per_s" in acc:
            big["x_webtext"] = round(big["tokens_per_s"] / acc["tokens_per_s"], 4)
    if "data-sync" in options or "data-prefetch" in options:
        sync = bench.run_speed("data-sync", data="sync")
        pre = bench.run_speed("data-prefetch", cfg=bench.cfg(prefetch=True), data="prefetch")
        if "tokens_per_s" in sync and "tokens_per_s" in pre:
            pre["x_webtext"] = round(pre["tokens_per_s"] / sync["tokens_per_s"], 4)
    if "combined" in options:
        if not gains:
            log(f"{'combined':<28} skipped: no switch beat webtext by more than 1%")
        else:
            fields, inductor = {}, {}
            for _, name, sw in gains.values():
                fields.update(switch_cfg(bench, name))
                inductor.update(sw.get("inductor") or {})
            names = "+".join(name for _, name, _ in gains.values())
            bench.combined = fields
            row = bench.run_speed(f"combined ({names})", cfg=bench.cfg(**fields), inductor=inductor or None)
            if "tokens_per_s" in row and "tokens_per_s" in base:
                row["x_webtext"] = round(row["tokens_per_s"] / base["tokens_per_s"], 4)
    best = max((r for r in bench.rows if r.get("x_nanogpt") and not r["row"].startswith("nanogpt")),
               key=lambda r: r["x_nanogpt"], default=None)
    if best:
        log(f"best: {best['row']} at {best['x_nanogpt']:.3f} x nanoGPT's tokens/s (goal >= 1.10)")
    bench.save()


def loss_mode(bench: Bench, args, options: list[str]) -> None:
    if args.combine:  # the winners of an earlier speed run
        bench.combined = {}
        for name in args.combine.split(","):
            if name.strip() not in SWITCHES:
                raise SystemExit(f"train_throughput: --combine: unknown switch {name!r}")
            bench.combined.update(switch_cfg(bench, name.strip()))
    log(f"loss check: {bench.loss_steps} steps per run, same init and batches")
    base = bench.run_loss("webtext", bench.cfg())
    if base is None:
        return
    again = bench.run_loss("webtext-rerun", bench.cfg())
    noise = diff_stats(again, base) if again else {"max_abs_diff": 0.0, "mean_abs_diff": 0.0, "tail_mean_abs_diff": 0.0}
    bench.loss["noise"] = noise
    log(f"{'run':<28} {'final loss':>10} {'max |d|':>9} {'mean |d|':>9} {'last-50 |d|':>11}  verdict")
    log(f"{'webtext':<28} {np.mean(base[-10:]):>10.4f}")
    if again:
        log(f"{'webtext-rerun (noise)':<28} {np.mean(again[-10:]):>10.4f} {noise['max_abs_diff']:>9.5f} "
            f"{noise['mean_abs_diff']:>9.5f} {noise['tail_mean_abs_diff']:>11.5f}")
    limit = max(2 * noise["tail_mean_abs_diff"], 0.02)
    runs = [(n, bench.cfg(**switch_cfg(bench, n)), None, 1, base) for n in options
            if n in SWITCHES and not SWITCHES[n].get("inductor")
            and not (SWITCHES[n].get("cuda") and not bench.cuda) and not (SWITCHES[n].get("compile") and not bench.use_compile)]
    if "micro-2x" in options:
        acc = bench.run_loss("webtext-accum2", bench.cfg(), accum=2)
        if acc is not None:
            runs.append(("micro-2x", bench.cfg(), 2 * bench.B, 1, acc))
    if "data-prefetch" in options:
        runs.append(("data-prefetch", bench.cfg(prefetch=True), None, 1, base))
    if bench.combined:  # the speed mode's winners together: the configuration a user would run
        runs.append(("combined", bench.cfg(**bench.combined), None, 1, base))
    for name, cfg, micro, accum, ref in runs:
        curve = bench.run_loss(name, cfg, micro=micro, accum=accum)
        if curve is None:
            continue
        st = diff_stats(curve, ref)
        st["within_noise"] = st["tail_mean_abs_diff"] <= limit
        bench.loss["runs"][name].update(st)
        log(f"{name:<28} {np.mean(curve[-10:]):>10.4f} {st['max_abs_diff']:>9.5f} {st['mean_abs_diff']:>9.5f} "
            f"{st['tail_mean_abs_diff']:>11.5f}  {'within noise' if st['within_noise'] else 'DIFFERS'}")
    bench.save()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="Rows: " + ", ".join(list(SWITCHES) + list(OTHER_ROWS)))
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--mode", choices=["speed", "loss", "both"], default="speed")
    ap.add_argument("--nanogpt", default=None, help="nanoGPT's model.py or its folder (default ../shared/anchors/nanogpt)")
    ap.add_argument("--skip-nanogpt", action="store_true", help="time this trainer only")
    ap.add_argument("--options", default=None, help="comma-separated rows after nanogpt/webtext (default: all but the "
                    "slow compile modes on CUDA; the CPU-capable ones on a CPU)")
    ap.add_argument("--combine", default=None, help="loss mode: also check these switches together "
                    "(e.g. the winners of an earlier --mode speed run: chunked-ce,attn-cudnn)")
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    ap.add_argument("--model", default=None, help="default gpt2-124m on CUDA, gpt2-tiny on CPU")
    ap.add_argument("--batch-size", type=int, default=None, help="micro-batch (default 16 on CUDA, 2 on CPU)")
    ap.add_argument("--block-size", type=int, default=None, help="default 1024 on CUDA, 64 on CPU")
    ap.add_argument("--dtype", default=None, choices=["bfloat16", "float32"], help="default bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None)
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps per row (default 10 on CUDA, 1 on CPU)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per row (default 50 on CUDA, 2 on CPU)")
    ap.add_argument("--loss-steps", type=int, default=None, help="steps per loss curve (default 200 on CUDA, 8 on CPU)")
    ap.add_argument("--loss-chunk", type=int, default=None, help="rows per chunk for chunked-ce (default 4096 on CUDA)")
    ap.add_argument("--data", default=None, help="token folder for the data rows and the loss check (default: synthetic)")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--out-dir", default=None, help="folder for the JSON (default benchmarks/results)")
    ap.add_argument("--json", default=None, help="exact JSON path (overrides --out-dir)")
    ap.add_argument("--time-budget", type=float, default=None,
                    help="seconds: start no new row after this (the JSON keeps what was measured)")
    ap.add_argument("--verbose", action="store_true", help="print the traceback of a failing row")
    args = ap.parse_args()
    if args.list:
        for name, sw in SWITCHES.items():
            log(f"{name:<28} {sw['group']:<10} {sw['cfg'] or sw.get('inductor')}{'  (not by default)' if sw.get('slow') else ''}")
        for name in OTHER_ROWS:
            log(name)
        return 0
    bench = Bench(args)
    options = selected_options(args, bench.cuda)
    cudnn = f", cuDNN {torch.backends.cudnn.version()}" if bench.cuda else ""
    log(f"device: {bench.name}; torch {torch.__version__}" + (f", CUDA {torch.version.cuda}{cudnn}" if bench.cuda else ""))
    log(f"model {bench.model_name}, micro-batch {bench.B} x {bench.T}, {bench.dtype}, compile={bench.use_compile}, "
        f"{bench.warmup} warmup + {bench.steps} timed steps per row; rows: {', '.join(options)}")
    log(f"JSON: {bench.json_path}")
    t0 = bench.t0
    if args.mode in ("speed", "both"):
        speed_mode(bench, args, options)
    if args.mode in ("loss", "both"):
        loss_mode(bench, args, options)
    log(f"done in {time.perf_counter() - t0:.0f} s; JSON: {bench.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
