"""CLI commands of the gpt2 stage: `train`, `sample`, `export-hf`, `import-hf`.

Nothing heavy (torch, transformers) is imported here; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse

# train options whose argparse default is None, so we can tell which ones the user set (for --resume)
_TRAIN_OPTIONS = [
    ("--model", str, "model size: gpt2-124m, gpt2-355m, gpt2-774m, gpt2-1558m, or gpt2-tiny / gpt2-mini for CPU (default gpt2-124m)"),
    ("--block-size", int, "context length (default: the model's, 1024)"),
    ("--dropout", float, "dropout (default 0.0)"),
    ("--batch-size", int, "micro-batch: sequences per process per forward/backward (default 16)"),
    ("--total-batch-tokens", int, "tokens per optimizer step over all processes, via gradient accumulation (default 524288 = 512 x 1024)"),
    ("--max-steps", int, "optimizer steps; the cosine schedule ends here (default 10000)"),
    ("--lr", float, "peak learning rate (default 6e-4)"),
    ("--min-lr", float, "final learning rate (default lr/10)"),
    ("--warmup-steps", int, "linear warmup steps (default 700)"),
    ("--weight-decay", float, "AdamW weight decay on 2-D weights (default 0.1)"),
    ("--beta1", float, "AdamW beta1 (default 0.9)"),
    ("--beta2", float, "AdamW beta2 (default 0.95)"),
    ("--grad-clip", float, "clip the global gradient norm to this; 0 = off (default 1.0)"),
    ("--eval-interval", int, "steps between validation runs (default 250)"),
    ("--eval-iters", int, "validation batches per evaluation (default 20)"),
    ("--ckpt-interval", int, "steps between checkpoints (default 1000)"),
    ("--log-interval", int, "steps between log lines (default 1)"),
    ("--dtype", str, "auto | bfloat16 | float32 (default auto: bf16 autocast on CUDA, fp32 on CPU)"),
    ("--device", str, "auto | cpu | cuda (default auto)"),
    ("--seed", int, "seed for init and data order (default 1337)"),
    ("--tokenizer", str, "tokenizer folder (encoder.json + vocab.bpe) of the data; default: meta.json's; a copy is kept in OUT/tokenizer"),
    ("--init-from", str, "start from these weights (a checkpoint, e.g. from import-hf) with a fresh optimizer"),
    ("--peak-tflops", float, "accelerator peak bf16 TFLOP/s for MFU (default: known from the GPU name)"),
    # speed switches: none changes the loss (docs/gpt2.md, "Speed options")
    ("--attention", str, "attention kernel: auto | flash | cudnn | efficient | math (default auto: PyTorch picks)"),
    ("--loss-chunk", int, "fused linear + cross-entropy over chunks of this many tokens, never the full logits; 0 = off (default 0)"),
    ("--compile-mode", str, "torch.compile mode: default | reduce-overhead (CUDA graphs) | max-autotune | max-autotune-no-cudagraphs"),
]


def _train(args) -> int:
    from webtext.gpt2.train import TrainConfig, train

    values = {"data": args.data, "out": args.out}
    explicit = {"data", "out"}
    for flag, _, _ in _TRAIN_OPTIONS:
        name = flag[2:].replace("-", "_")
        v = getattr(args, name)
        if v is not None:
            values[name] = v
            explicit.add(name)
    for name in ("compile", "fsdp", "prefetch", "fp8"):
        v = getattr(args, name)
        if v is not None:
            values[name] = v
            explicit.add(name)
    summary = train(TrainConfig(**values), resume=args.resume, stop_after=args.stop_after, explicit=explicit)
    import os

    if os.environ.get("RANK", "0") != "0":
        return 0  # torchrun: one summary line, from rank 0
    val = f", val loss {summary['val_loss']:.4f}" if summary["val_loss"] is not None else ""
    print(f"trained to step {summary['step']}{val}; checkpoint {summary['checkpoint']}")
    return 0


def _sample(args) -> int:
    from webtext.gpt2.sample import sample_text

    texts = sample_text(
        args.checkpoint, args.prompt, num_samples=args.num_samples, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, top_k=args.top_k, top_p=args.top_p, seed=args.seed,
        tokenizer=args.tokenizer, device=args.device,
    )
    for i, text in enumerate(texts):
        if len(texts) > 1:
            print(f"--- sample {i + 1} ---")
        print(args.prompt + text)
    return 0


def _export(args) -> int:
    from webtext.gpt2.convert import export_hf

    out = export_hf(args.checkpoint, args.out, tokenizer=args.tokenizer)
    print(f"wrote {out} (load with transformers.GPT2LMHeadModel.from_pretrained)")
    return 0


def _import(args) -> int:
    from webtext.gpt2.convert import import_checkpoint

    notes: list[str] = []
    path = import_checkpoint(args.src, args.out, report=notes)
    print(f"wrote {path}; " + "; ".join(notes))
    return 0


def add_commands(sub) -> None:
    p = sub.add_parser("train", help="train GPT-2 on token files (train.bin/val.bin)",
                       description="Train GPT-2 on the token files of `webtext tokenize`. Several GPUs: "
                                   "torchrun --nproc_per_node N -m webtext.cli train ...",
                       epilog="examples:\n  webtext train --data tokens/ --out runs/124m --model gpt2-124m\n"
                              "  webtext train --data tokens/ --out runs/124m --resume\n"
                              "  webtext train --data tokens/ --out runs/tiny --model gpt2-tiny --batch-size 8 "
                              "--total-batch-tokens 1024 --max-steps 50 --device cpu")
    p.add_argument("--data", required=True, help="folder with train.bin, val.bin, meta.json")
    p.add_argument("--out", required=True, help="run folder: ckpt.pt, log.jsonl, tokenizer/")
    for flag, typ, help_ in _TRAIN_OPTIONS:
        p.add_argument(flag, type=typ, default=None, help=help_)
    p.add_argument("--compile", dest="compile", action="store_true", default=None, help="torch.compile (default on CUDA)")
    p.add_argument("--no-compile", dest="compile", action="store_false", help="no torch.compile (the default on CPU)")
    p.add_argument("--fsdp", dest="fsdp", action="store_true", default=None,
                   help="shard with FSDP (default for gpt2-1558m with several processes)")
    p.add_argument("--no-fsdp", dest="fsdp", action="store_false", help="plain DDP even for gpt2-1558m")
    p.add_argument("--prefetch", dest="prefetch", action="store_true", default=None,
                   help="prepare the next batch in a background thread while the GPU computes")
    p.add_argument("--no-prefetch", dest="prefetch", action="store_false", help="prepare batches in the training loop (the default)")
    p.add_argument("--fp8", dest="fp8", action="store_true", default=None,
                   help="float8 matmuls in the blocks (needs torchao and an FP8 GPU; changes numerics slightly)")
    p.add_argument("--no-fp8", dest="fp8", action="store_false", help="bf16/fp32 matmuls (the default)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its ckpt.pt")
    p.add_argument("--stop-after", type=int, default=None, help="stop (with a checkpoint) after this many steps in this invocation")
    p.set_defaults(func=_train)

    p = sub.add_parser(
        "sample", help="generate text from a GPT-2 checkpoint",
        description="Generate text from a checkpoint (`webtext train` or `webtext import-hf`) with temperature, "
                    "top-k and top-p sampling; the tokenizer stored with the checkpoint decodes it.",
        epilog="examples:\n  webtext sample --checkpoint runs/124m --prompt \"The city\" --temperature 0.8 --top-k 200 --seed 42\n"
               "  webtext sample --checkpoint imported/ckpt.pt --num-samples 3 --max-new-tokens 50",
    )
    p.add_argument("--checkpoint", required=True, help="ckpt.pt or a run folder")
    p.add_argument("--prompt", default="", help="text to continue (default: start from <|endoftext|>)")
    p.add_argument("--num-samples", type=int, default=1, help="how many continuations (default 1)")
    p.add_argument("--max-new-tokens", type=int, default=100, help="tokens to generate per sample (default 100)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature; 0 = greedy (default 1.0)")
    p.add_argument("--top-k", type=int, default=None, help="sample among the k most likely tokens only (default: all)")
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling: the smallest set with this much probability (default: off)")
    p.add_argument("--seed", type=int, default=1337, help="random seed: the same seed gives the same text (default 1337)")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the one stored with the checkpoint)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda (default auto)")
    p.set_defaults(func=_sample)

    p = sub.add_parser(
        "export-hf", help="export a checkpoint as a Hugging Face transformers GPT-2 folder",
        description="Write a folder that transformers' GPT2LMHeadModel.from_pretrained and AutoTokenizer load "
                    "offline: model.safetensors, config.json and the tokenizer files.",
        epilog="examples:\n  webtext export-hf --checkpoint runs/124m --out hf/\n"
               "  webtext export-hf --checkpoint runs/124m/ckpt.pt --tokenizer tok/ --out hf/",
    )
    p.add_argument("--checkpoint", required=True, help="ckpt.pt or a run folder")
    p.add_argument("--out", required=True, help="folder to write (replaced if it exists)")
    p.add_argument("--tokenizer", default=None, help="tokenizer folder (default: the one stored with the checkpoint)")
    p.set_defaults(func=_export)

    p = sub.add_parser(
        "import-hf", help="import GPT-2 weights (and tokenizer) from a local Hugging Face or OpenAI folder",
        description="Convert a local Hugging Face GPT-2 folder (config.json + safetensors or pytorch_model.bin) or "
                    "OpenAI's release (hparams.json + model.ckpt.*) into OUT/ckpt.pt. The folder's tokenizer "
                    "(tokenizer.json, or vocab.json + merges.txt, or encoder.json + vocab.bpe) goes to OUT/tokenizer/ "
                    "and `webtext sample` uses it; the command says when the folder has none.",
        epilog="examples:\n  webtext import-hf --src gpt2-folder/ --out imported/\n"
               "  webtext sample --checkpoint imported/ckpt.pt --prompt \"Hello\"",
    )
    p.add_argument("--src", required=True, help="HF folder (config.json + safetensors/bin) or OpenAI's (hparams.json + model.ckpt.*)")
    p.add_argument("--out", required=True, help="folder for ckpt.pt and tokenizer/")
    p.set_defaults(func=_import)
