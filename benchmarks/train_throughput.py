"""Training throughput of the GPT-2 trainer: tokens/s and MFU.

    # the figure the project reports: 124M model, micro-batch 16 x 1024, bf16, torch.compile, on one GPU
    python benchmarks/train_throughput.py --device cuda
    # on a CPU (a tiny model; the defaults change to gpt2-tiny, 8 x 128, fp32, no compile)
    python benchmarks/train_throughput.py --device cpu

Each timed step is what `webtext train` does per micro-batch with no accumulation: forward under bf16
autocast, loss, backward, gradient clipping to 1.0, fused AdamW step with the trainer's parameter
groups, on random token ids (throughput does not depend on the ids; `--data DIR` reads real token
files instead). The first `--warmup` steps (compilation, autotuning, allocator growth) are not timed.
MFU = tokens/s x training FLOPs per token (6 N + 12 L d T, as nanoGPT/llm.c count) / the GPU's bf16
dense peak (989 TFLOP/s for H100/H200 SXM; override with --peak-tflops).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from webtext.gpt2.model import GPT, config_for  # noqa: E402
from webtext.gpt2.train import TrainConfig, configure_optimizer, peak_flops  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--model", default=None, help="default gpt2-124m on CUDA, gpt2-tiny on CPU")
    ap.add_argument("--batch-size", type=int, default=None, help="default 16 on CUDA, 8 on CPU")
    ap.add_argument("--block-size", type=int, default=None, help="default 1024 on CUDA, 128 on CPU")
    ap.add_argument("--dtype", default=None, choices=["bfloat16", "float32"], help="default bf16 on CUDA, fp32 on CPU")
    ap.add_argument("--compile", dest="compile", action="store_true", default=None)
    ap.add_argument("--no-compile", dest="compile", action="store_false")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps (default 10 on CUDA, 2 on CPU)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 50 on CUDA, 5 on CPU)")
    ap.add_argument("--data", default=None, help="token folder (train.bin); default random ids")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--coordinate-descent-tuning", action="store_true",
                    default=os.environ.get("TORCHINDUCTOR_COORDINATE_DESCENT_TUNING") == "1",
                    help="let Inductor tune each generated kernel's launch parameters: about +1%% tokens/s "
                         "on an H200 for about 2.5 minutes more compilation (same as the env var "
                         "TORCHINDUCTOR_COORDINATE_DESCENT_TUNING=1, which `webtext train` also honours)")
    args = ap.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    model_name = args.model or ("gpt2-124m" if cuda else "gpt2-tiny")
    B = args.batch_size or (16 if cuda else 8)
    T = args.block_size or (1024 if cuda else 128)
    dtype = args.dtype or ("bfloat16" if cuda else "float32")
    use_compile = args.compile if args.compile is not None else cuda
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 2)
    steps = args.steps if args.steps is not None else (50 if cuda else 5)

    torch.manual_seed(0)
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if args.coordinate_descent_tuning:
        import torch._inductor.config as inductor_config

        inductor_config.coordinate_descent_tuning = True
    config = config_for(model_name, block_size=T)
    model = GPT(config).to(device)
    optimizer = configure_optimizer(model, TrainConfig(), device.type)
    fwd = torch.compile(model) if use_compile else model
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16) if dtype == "bfloat16" else nullcontext()

    if args.data:
        from webtext.gpt2.data import TokenData

        loader = TokenData(args.data, B, T, device=device)
        batch = loader.next_batch
    else:
        gen = torch.Generator(device=device).manual_seed(0)

        def batch():
            ids = torch.randint(0, config.vocab_size, (B, T + 1), device=device, generator=gen)
            return ids[:, :-1], ids[:, 1:]

    def step() -> torch.Tensor:
        x, y = batch()
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            _, loss = fwd(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss

    t0 = time.perf_counter()
    for _ in range(warmup):
        loss = step()
    if cuda:
        torch.cuda.synchronize()
    warm_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = step()
    loss_value = loss.item()  # waits for the GPU
    elapsed = time.perf_counter() - t0
    tokens_per_s = B * T * steps / elapsed
    peak = peak_flops(device, args.peak_tflops)
    flops = model.flops_per_token(T)
    mfu = tokens_per_s * flops / peak if peak else None
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)"
    result = {
        "device": name, "model": model_name, "params": model.num_params(non_embedding=False), "batch": B, "block": T,
        "dtype": dtype, "compile": use_compile,
        "coordinate_descent_tuning": bool(args.coordinate_descent_tuning), "sdpa_flash": torch.backends.cuda.flash_sdp_enabled() if cuda else None,
        "fused_adamw": cuda, "warmup_steps": warmup, "warmup_s": round(warm_s, 2), "timed_steps": steps,
        "step_ms": round(1000 * elapsed / steps, 2), "tokens_per_s": round(tokens_per_s), "flops_per_token": flops,
        "mfu": round(mfu, 4) if mfu is not None else None, "last_loss": round(loss_value, 4),
        "torch": torch.__version__,
    }
    if cuda:
        result["max_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    print(f"device: {name}")
    print(f"model {model_name} ({result['params']:,} params), batch {B} x {T}, {dtype}, compile={use_compile}, "
          f"torch {torch.__version__}")
    print(f"warmup {warmup} steps in {warm_s:.1f} s; {steps} timed steps: {result['step_ms']} ms/step")
    print(f"tokens/s: {tokens_per_s:,.0f}")
    print(f"MFU: {100 * mfu:.1f}% of {peak / 1e12:.0f} TFLOP/s bf16 peak" if mfu is not None else "MFU: n/a (no known peak for this device; pass --peak-tflops)")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
