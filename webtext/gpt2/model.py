"""GPT-2, as the paper and OpenAI's released weights describe it, in one readable file.

The architecture (Radford et al. 2019, "Language Models are Unsupervised Multitask Learners", §2.3,
on top of GPT-1's decoder-only Transformer):

- token embeddings plus *learned* position embeddings (not sinusoids);
- pre-LayerNorm blocks: ``x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))`` (GPT-2 moved the LayerNorm to
  the input of each sub-block) and one more LayerNorm, ``ln_f``, after the last block;
- residual projections (``attn.c_proj``, ``mlp.c_proj``) initialised with std ``0.02 / sqrt(2 * n_layer)``
  so the variance of the residual stream does not grow with depth; every other weight N(0, 0.02);
- GPT-2's tanh approximation of GELU;
- the output projection ``lm_head`` shares its weight with the token embedding ``wte``.

Parameter names follow GPT-2's own checkpoints (``transformer.wte``, ``transformer.h.N.attn.c_attn``, ...),
so converting from and to OpenAI's and Hugging Face's weights is a rename plus a transpose: GPT-2's
``Conv1D`` stores weights as (in, out) where ``nn.Linear`` stores (out, in). ``convert.py`` does that.

The vocabulary is padded internally (50,257 -> 50,304, a multiple of 64/128) because matrix products
whose sizes are multiples of 64 run markedly faster on tensor cores. The padded rows of ``wte`` start at
zero and never receive a gradient: ``forward`` returns logits over the real vocabulary only (the extra
columns are sliced off before the softmax), so padded ids can neither be sampled nor change the loss,
and ``convert.py`` drops them on export. ``vocab_size`` is the real size everywhere outside this file.

Two speed switches change how, never what, the model computes, so they live on the model, not in
``GPTConfig`` (checkpoints do not depend on them): ``set_attention_backend`` pins the kernel behind
``scaled_dot_product_attention`` (cuDNN or flash attention on Hopper), and ``loss_chunk_rows`` turns
on ``linear_cross_entropy``, which computes the loss and its gradients chunk by chunk so the full
(tokens x vocabulary) logits never exist. Both give the same loss as the plain path (tests/gpt2).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

# --attention choices: None lets PyTorch pick per call (flash on recent GPUs); the others pin one kernel.
ATTENTION_BACKENDS = {
    "auto": None,
    "flash": SDPBackend.FLASH_ATTENTION,  # FlashAttention-2 (CUDA), or PyTorch's flash kernel on CPU
    "cudnn": SDPBackend.CUDNN_ATTENTION,  # cuDNN's fused attention (CUDA; fastest on Hopper in some releases)
    "efficient": SDPBackend.EFFICIENT_ATTENTION,  # xFormers' memory-efficient kernel (CUDA)
    "math": SDPBackend.MATH,  # the reference composition of matmuls and softmax
}


def _pad_vocab(n: int, multiple: int = 64) -> int:
    return ((n + multiple - 1) // multiple) * multiple


@dataclass
class GPTConfig:
    block_size: int = 1024  # context length (n_ctx)
    vocab_size: int = 50257  # the tokenizer's vocabulary; ids >= this are never produced
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0  # GPT-2 used 0.1 (resid/attn/embd); 0.0 is the usual choice for pre-training at scale
    bias: bool = True  # GPT-2 has biases in every Linear and LayerNorm
    layer_norm_epsilon: float = 1e-5
    padded_vocab_size: int = 0  # 0: round vocab_size up to a multiple of 64

    def __post_init__(self) -> None:
        if self.padded_vocab_size == 0:
            self.padded_vocab_size = _pad_vocab(self.vocab_size)
        if self.padded_vocab_size < self.vocab_size:
            raise ValueError(f"padded_vocab_size {self.padded_vocab_size} < vocab_size {self.vocab_size}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not divisible by n_head {self.n_head}")

    def to_dict(self) -> dict:
        return asdict(self)


# The four released sizes (the paper's Table 2; the parameter counts are the corrected ones OpenAI
# published with the weights) and small ones that train in seconds on a CPU.
CONFIGS: dict[str, dict] = {
    "gpt2-124m": dict(n_layer=12, n_head=12, n_embd=768),
    "gpt2-355m": dict(n_layer=24, n_head=16, n_embd=1024),
    "gpt2-774m": dict(n_layer=36, n_head=20, n_embd=1280),
    "gpt2-1558m": dict(n_layer=48, n_head=25, n_embd=1600),
    "gpt2-tiny": dict(n_layer=2, n_head=2, n_embd=64, block_size=128),
    "gpt2-mini": dict(n_layer=4, n_head=4, n_embd=128, block_size=256),
}


def config_for(name: str, **overrides) -> GPTConfig:
    """`GPTConfig` for a named size; `overrides` (vocab_size, block_size, dropout...) win."""
    if name not in CONFIGS:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(CONFIGS)}")
    return GPTConfig(**{**CONFIGS[name], **{k: v for k, v in overrides.items() if v is not None}})


def new_gelu(x: torch.Tensor) -> torch.Tensor:
    # GPT-2's GELU is the tanh approximation (Hendrycks & Gimpel 2016); the exact erf form gives
    # slightly different logits from the released weights.
    return F.gelu(x, approximate="tanh")


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        # q, k and v for all heads in one matrix product, as GPT-2's c_attn.
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.c_proj.RESIDUAL_PROJECTION = True  # scaled init, see GPT._init_weights
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)
        self.sdpa_backend: SDPBackend | None = None  # GPT.set_attention_backend

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        # (B, T, C) -> (B, n_head, T, head_size)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        # is_causal lets PyTorch pick the flash / memory-efficient kernels: no T x T mask in memory.
        dropout_p = self.dropout if self.training else 0.0
        if self.sdpa_backend is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        else:
            with sdpa_kernel(self.sdpa_backend):
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.c_proj.RESIDUAL_PROJECTION = True
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(new_gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pre-LN: the residual stream itself is never normalised, which keeps deep stacks trainable.
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.padded_vocab_size, config.n_embd),
                wpe=nn.Embedding(config.block_size, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.padded_vocab_size, bias=False)
        # Weight tying (Press & Wolf 2017), as in GPT-2: one matrix embeds tokens and scores them.
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        # 0: loss on the full padded logits; N: linear_cross_entropy over chunks of N token rows
        self.loss_chunk_rows = 0

    def set_attention_backend(self, name: str, device_type: str) -> None:
        """Pin the attention kernel ("auto", "flash", "cudnn", "efficient", "math")."""
        if name not in ATTENTION_BACKENDS:
            raise ValueError(f"unknown attention backend {name!r}; choose one of {', '.join(ATTENTION_BACKENDS)}")
        if name in ("cudnn", "efficient") and device_type != "cuda":
            raise ValueError(f"attention backend {name!r} needs a CUDA GPU")
        for block in self.transformer.h:
            block.attn.sdpa_backend = ATTENTION_BACKENDS[name]

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            std = 0.02
            if getattr(module, "RESIDUAL_PROJECTION", False):
                # Each block adds two residual branches; scaling by 1/sqrt(2 * n_layer) keeps the
                # residual stream's variance independent of depth (GPT-2 paper, §2.3).
                std = 0.02 / math.sqrt(2 * self.config.n_layer)
            if module is self.lm_head:
                return  # tied to wte, initialised there
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module is self.transformer.wte:
                with torch.no_grad():
                    # Padded ids are never targets and never inputs: zero rows stay zero under AdamW.
                    module.weight[self.config.vocab_size :].zero_()
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameters, counted once (wte and lm_head are one tensor). Without position embeddings by
        default, the count used for FLOPs estimates; the padded rows of wte are not counted."""
        n = sum(p.numel() for p in self.parameters())
        n -= (self.config.padded_vocab_size - self.config.vocab_size) * self.config.n_embd
        if non_embedding:
            n -= self.transformer.wpe.weight.numel()
        return n

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits over the real vocabulary, (B, T, vocab_size); with `targets`, also the mean
        cross-entropy (targets of -1 are ignored). With `loss_chunk_rows` set and `targets` given,
        the logits are None (they are never computed whole)."""
        B, T = idx.size()
        if T > self.config.block_size:
            raise ValueError(f"sequence of length {T} is longer than block_size {self.config.block_size}")
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None and self.loss_chunk_rows:
            # the loss without the logits: they are never materialised whole, so none are returned
            loss = linear_cross_entropy(x.view(B * T, -1), self.lm_head.weight, targets.reshape(-1),
                                        self.config.vocab_size, self.loss_chunk_rows)
            return None, loss
        # The matrix product runs over the padded vocabulary (fast shapes). The padded columns are
        # set to -inf in place (the product's backward needs its inputs, not its output), so the loss
        # is computed on the contiguous padded logits, with no copy, and equals GPT-2's softmax over
        # the real vocabulary exactly; callers only ever see the real columns.
        logits = self.lm_head(x)
        V = self.config.vocab_size
        if targets is None:
            return logits[..., :V], None
        if logits.size(-1) > V:
            logits[..., V:] = float("-inf")
        # Under bf16 autocast cross_entropy runs in float32 (it is on autocast's fp32 list).
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits[..., :V], loss

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token: 6 per parameter (forward + backward) plus attention's
        12 * n_layer * n_embd * T (PaLM, appendix B), as nanoGPT and llm.c count for MFU."""
        c = self.config
        T = seq_len or c.block_size
        return 6 * self.num_params() + 12 * c.n_layer * c.n_embd * T


class _LinearCrossEntropy(torch.autograd.Function):
    """Mean cross-entropy of softmax(x @ W.T) over the real vocabulary, chunk by chunk of rows.

    The plain path computes (N, padded V) logits, converts them to float32 for the softmax and keeps
    them for the backward: for 16 x 1,024 tokens and GPT-2's vocabulary that is 3.3 GB written and
    read several times per step. Here each chunk's logits are computed, turned into the chunk's loss
    and its gradient (softmax - one-hot) / N at once, and the gradient is pushed through the matrix
    product immediately (dx = g @ W, dW += g.T @ x); only dx (N, C) and dW (V, C) are kept, and the
    backward just scales them by the incoming gradient. Same products, same float32 softmax, same
    bf16 roundings as the plain path under autocast, so the loss is the same; nothing is recomputed.
    """

    @staticmethod
    def forward(ctx, x, weight, targets, vocab_size: int, chunk_rows: int):
        dev = x.device.type
        cdtype = torch.get_autocast_dtype(dev) if torch.is_autocast_enabled(dev) else x.dtype
        with torch.autocast(dev, enabled=False):
            xc, wc = x.to(cdtype), weight.to(cdtype)
            valid = targets != -1
            n_valid = valid.sum()
            safe_t = targets.clamp(min=0).unsqueeze(1)
            scale = valid.to(torch.float32) / n_valid  # 1/N on counted rows, 0 on ignored ones
            grad_x = torch.empty_like(xc)
            grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device)
            loss = torch.zeros((), dtype=torch.float32, device=x.device)
            for s in range(0, xc.size(0), chunk_rows):
                e = min(s + chunk_rows, xc.size(0))
                logits = (xc[s:e] @ wc.t()).float()
                if logits.size(1) > vocab_size:
                    logits[:, vocab_size:] = float("-inf")  # padded ids: probability 0, gradient 0
                lse = torch.logsumexp(logits, dim=1, keepdim=True)
                loss += ((lse.squeeze(1) - logits.gather(1, safe_t[s:e]).squeeze(1)) * scale[s:e]).sum()
                probs = logits.sub_(lse).exp_()  # the softmax, in place of the logits
                probs.scatter_add_(1, safe_t[s:e], torch.full_like(lse, -1.0))  # minus the one-hot
                g = probs.mul_(scale[s:e].unsqueeze(1)).to(cdtype)
                grad_x[s:e] = g @ wc
                grad_w += (g.t() @ xc[s:e]).float()
        ctx.save_for_backward(grad_x, grad_w)
        ctx.x_dtype, ctx.w_dtype = x.dtype, weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_out):
        grad_x, grad_w = ctx.saved_tensors
        return grad_x.to(ctx.x_dtype) * grad_out, (grad_w * grad_out).to(ctx.w_dtype), None, None, None


def linear_cross_entropy(x: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, vocab_size: int,
                         chunk_rows: int) -> torch.Tensor:
    """`F.cross_entropy(x @ weight.T masked to vocab_size, targets, ignore_index=-1)` without the full
    logits: x (N, C), weight (padded V, C), targets (N,). See `_LinearCrossEntropy`."""
    return _LinearCrossEntropy.apply(x, weight, targets, vocab_size, chunk_rows)
