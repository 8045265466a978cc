"""
A modern decoder-only transformer in one file, Llama-style so that it exports to Hugging Face:
RMSNorm (Zhang & Sennrich 2019), rotary position embeddings (Su et al. 2021, HF Llama's half-rotation
convention), SwiGLU (Shazeer 2020), no biases, optional tied embeddings, grouped-query attention
(Ainslie et al. 2023) and a preallocated KV cache for generation.

Standalone: imports torch only (transformers lazily, for HF export/import).
"""
import math
import weakref
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


class ConfigError(ValueError):
    """An impossible model configuration; the entry scripts print it as one line."""


@dataclass
class GPTConfig:
    block_size: int = 256
    vocab_size: int = 50257
    n_layer: int = 6
    n_head: int = 6
    n_kv_head: int = None      # None = n_head (MHA); 1 = MQA; a divisor of n_head = GQA
    n_embd: int = 384
    ffn_hidden: int = None     # None = 8/3 * n_embd rounded up to 64 (Llama's SwiGLU sizing)
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    dropout: float = 0.0
    # Mixture of Experts (Shazeer et al. 2017; Switch, Fedus et al. 2021): 0 experts = dense
    n_experts: int = 0
    moe_top_k: int = 2
    moe_every: int = 1             # MoE FFN in blocks moe_every-1, 2*moe_every-1, ... (1 = every block)
    capacity_factor: float = 0.0   # 0 = unlimited; else each expert takes ceil(cf * tokens * top_k / n_experts)
    aux_loss_coef: float = 0.01    # Switch load-balancing loss
    z_loss_coef: float = 0.001     # ST-MoE router z-loss (Zoph et al. 2022)
    sink_token: bool = False       # StreamingLLM §3.3: a learned sink token at position 0 of every sequence

    def __post_init__(self):
        if self.n_kv_head is None:
            self.n_kv_head = self.n_head
        if self.ffn_hidden is None:
            self.ffn_hidden = 64 * math.ceil(8 * self.n_embd / 3 / 64)
        if self.n_embd % self.n_head:
            raise ConfigError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.n_kv_head < 1 or self.n_head % self.n_kv_head:
            raise ConfigError(f"n_head={self.n_head} must be divisible by n_kv_head={self.n_kv_head}")
        if (self.n_embd // self.n_head) % 2:
            raise ConfigError(f"head dim {self.n_embd // self.n_head} must be even for RoPE")
        if self.n_experts and not 1 <= self.moe_top_k <= self.n_experts:
            raise ConfigError(f"moe_top_k={self.moe_top_k} must be between 1 and n_experts={self.n_experts}")
        if self.n_experts and self.moe_every < 1:
            raise ConfigError(f"moe_every={self.moe_every} must be >= 1")

    @property
    def head_dim(self):
        return self.n_embd // self.n_head


# -----------------------------------------------------------------------------
# Rotary embeddings

def rope_tables(head_dim, length, theta, device=None):
    """cos/sin of shape (length, head_dim), frequencies duplicated across the two halves (HF Llama layout)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=device) / head_dim))
    freqs = torch.outer(torch.arange(length, dtype=torch.float32, device=device), inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def rotate(x, cos, sin):
    """x: (B, n_heads, T, hd); cos/sin: (T, hd) or (B, 1, T, hd). RoFormer eq. 34 in the rotate-half layout:
    x * cos + cat(-x2, x1) * sin, written as one product and two in-place updates of its halves (3 passes over
    memory instead of the 5 of neg, cat, mul, mul, add)."""
    h = x.size(-1) // 2
    out = x * cos
    out[..., :h].addcmul_(x[..., h:], sin[..., :h], value=-1)   # x1 cos - x2 sin
    out[..., h:].addcmul_(x[..., :h], sin[..., h:])             # x2 cos + x1 sin
    return out


class RoPE(torch.autograd.Function):
    """Autograd for `rotate`: a rotation's gradient is the inverse rotation (R(theta)^T = R(-theta)), so the
    backward pass is the forward with sin negated, rather than autograd's walk back through every op."""

    @staticmethod
    def forward(ctx, x, cos, sin):
        ctx.save_for_backward(cos, sin)
        return rotate(x, cos, sin)

    @staticmethod
    def backward(ctx, grad):
        cos, sin = ctx.saved_tensors
        return rotate(grad, cos, -sin), None, None


def apply_rope(x, cos, sin):
    """x: (B, n_heads, T, hd) -> x rotated by position (cos/sin from rope_tables, already sliced to x's positions)."""
    if torch.is_grad_enabled():
        return RoPE.apply(x, cos, sin)
    return rotate(x, cos, sin)  # decoding: a Function's bookkeeping costs a third of a (1, H, 1, hd) rotation


# -----------------------------------------------------------------------------
# KV cache: preallocated once, filled in place, holds only n_kv_head heads (the GQA memory saving).

class KVCache:
    streaming = False
    static = False

    def __init__(self, n_layer, max_len):
        self.n_layer, self.max_len = n_layer, max_len
        self.k = self.v = None  # (n_layer, B, n_kv_head, max_len, hd), allocated at the first write
        self.pos = 0            # number of positions filled
        self.seen = 0           # tokens consumed so far (differs from pos once a streaming cache evicts)
        self.shared = 0         # leading slots every row shares (expand): a ragged batch's padding comes after them

    def update(self, layer, k, v):
        """Write k, v (B, n_kv_head, T, hd) at [pos, pos+T); return the filled prefix of this layer's cache."""
        B, H, T, D = k.shape
        if self.k is None:
            self.k = torch.empty(self.n_layer, B, H, self.max_len, D, dtype=k.dtype, device=k.device)
            self.v = torch.empty_like(self.k)
        end = self.pos + T
        if end > self.max_len:
            raise ConfigError(f"KV cache full: {end} positions > max_len={self.max_len}")
        self.k[layer, :, :, self.pos:end] = k
        self.v[layer, :, :, self.pos:end] = v
        return self.k[layer, :, :, :end], self.v[layer, :, :, :end]

    def nbytes(self):
        return 0 if self.k is None else 2 * self.k.numel() * self.k.element_size()

    def slots_after(self, T):
        return self.pos + T

    def advance(self, T):
        self.pos += T
        self.seen += T

    def expand(self, B, max_len):
        """A cache of max_len slots for B rows that all start with this one-row cache's filled slots: a prefix
        every prompt of a batch shares (few-shot exemplars) is prefilled once, not once per row."""
        new = KVCache(self.n_layer, max_len)
        L, _, H, _, D = self.k.shape
        new.k, new.v = self.k.new_empty(L, B, H, max_len, D), self.v.new_empty(L, B, H, max_len, D)
        new.k[:, :, :, :self.pos], new.v[:, :, :, :self.pos] = self.k[:, :, :, :self.pos], self.v[:, :, :, :self.pos]
        new.pos, new.seen, new.shared = self.pos, self.seen, self.pos
        return new

    def repeat(self, n):
        """Each row becomes n rows that share its prefix: N samples of one prompt pay for one prefill."""
        self.k, self.v = self.k.repeat_interleave(n, dim=1), self.v.repeat_interleave(n, dim=1)

    def select(self, rows):
        """Keep only these rows (an index or a boolean mask over the batch): finished sequences stop costing work."""
        self.k, self.v = self.k[:, rows], self.v[:, rows]


class StreamingKVCache(KVCache):
    """StreamingLLM (Xiao et al. 2023): keep the first n_sink tokens and a rolling window of the most recent
    ones, so generation runs past block_size at constant memory without recomputation. Keys are stored before
    RoPE and rotated by their *cache slot* (§3.2: positions are assigned within the cache), so the model only
    ever sees positions < n_sink + window. n_sink = 0 is the window-only baseline that the paper shows
    collapsing once the first tokens are evicted."""
    streaming = True

    def __init__(self, n_layer, n_sink, window):
        if n_sink < 0 or window <= n_sink:
            raise ConfigError(f"streaming cache needs 0 <= n_sink < window, got n_sink={n_sink}, window={window}")
        super().__init__(n_layer, n_sink + window)
        self.n_sink = n_sink

    def slots_after(self, T):
        return min(self.pos + T, self.max_len)

    def update(self, layer, k, v):
        B, H, T, D = k.shape
        if self.k is None:
            self.k = torch.empty(self.n_layer, B, H, self.max_len, D, dtype=k.dtype, device=k.device)
            self.v = torch.empty_like(self.k)
        if self.pos + T > self.max_len:  # evict the oldest non-sink tokens by shifting the window left
            if T > 1:
                raise ConfigError("a streaming cache takes one token at a time once it is full")
            for buf in (self.k, self.v):
                buf[layer, :, :, self.n_sink:-1] = buf[layer, :, :, self.n_sink + 1:].clone()
            self.k[layer, :, :, -1:], self.v[layer, :, :, -1:] = k, v
            return self.k[layer], self.v[layer]
        return super().update(layer, k, v)

    def advance(self, T):
        self.pos, self.seen = self.slots_after(T), self.seen + T


class StaticKVCache(KVCache):
    """The one-token steps of a compiled decode (GPT.compile_decode): the position is a (1,) tensor that the step
    advances in place, update() writes the token's k, v there and returns all max_len slots, and trunk masks the
    slots not yet written. Every step then has the same shapes and the same Python state, so one compiled graph
    serves all of them (a plain KVCache's growing slices would be a new shape every step). Takes over a prefilled
    KVCache's contents, one tensor per layer: a write into a view of one (n_layer, ...) buffer that the graph
    takes as input is functionalized into copies of the whole buffer (inductor copied each layer's k and v twice
    a step), a write into a tensor of its own is done in place (batch-1 int8 at 256 new tokens: 2.5x eager with
    one tensor per layer, 1.2x with the views; experiments/bench/NOTES.md)."""
    static = True

    def __init__(self, cache):
        super().__init__(cache.n_layer, cache.max_len)
        self.shared = cache.shared
        self.ks = [k.clone() for k in cache.k.unbind(0)]  # n_layer x (B, n_kv_head, max_len, hd)
        self.vs = [v.clone() for v in cache.v.unbind(0)]
        for t in self.ks + self.vs:  # the masked slots still enter softmax(qk) @ v with weight 0, and 0 * NaN = NaN:
            t[:, :, cache.pos:] = 0  # torch.empty's leftovers must not be NaN or inf
        self.at = torch.tensor([cache.pos], device=cache.k.device)  # the slot the next token writes
        self.pos = self.seen = None  # not kept: Python ints that a compiled graph would guard on, one graph a step

    def update(self, layer, k, v):
        """k, v (B, n_kv_head, 1, hd) -> this layer's whole cache (B, n_kv_head, max_len, hd)."""
        self.ks[layer][:, :, self.at] = k  # index_put_, which inductor does in place
        self.vs[layer][:, :, self.at] = v
        return self.ks[layer], self.vs[layer]

    def nbytes(self):
        return sum(t.numel() * t.element_size() for t in self.ks + self.vs)

    def advance(self, T):
        self.at += T


# -----------------------------------------------------------------------------
# The model

class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.n_kv_head, self.hd = cfg.n_head, cfg.n_kv_head, cfg.head_dim
        # one fused projection for q, k and v: a single matmul is faster than three small ones on CPU
        self.c_attn = nn.Linear(cfg.n_embd, (cfg.n_head + 2 * cfg.n_kv_head) * cfg.head_dim, bias=False)
        self.c_proj = nn.Linear(cfg.n_head * cfg.head_dim, cfg.n_embd, bias=False)
        self.dropout = cfg.dropout

    def qkv(self, x):
        """x (B, T, C) -> q (B, n_head, T, hd), k and v (B, n_kv_head, T, hd), before RoPE."""
        B, T, _ = x.shape
        q, k, v = self.c_attn(x).split([self.n_head * self.hd, self.n_kv_head * self.hd, self.n_kv_head * self.hd], -1)
        q = q.view(B, T, self.n_head, self.hd).transpose(1, 2)     # (B, n_head, T, hd)
        k = k.view(B, T, self.n_kv_head, self.hd).transpose(1, 2)  # (B, n_kv_head, T, hd)
        v = v.view(B, T, self.n_kv_head, self.hd).transpose(1, 2)  # (B, n_kv_head, T, hd)
        return q, k, v

    def forward(self, x, cos, sin, cache=None, layer=0, mask=None):
        B, T, _ = x.shape
        q, k, v = self.qkv(x)
        if cache is not None and cache.streaming:  # cos/sin cover cache slots [0, S): rotate keys by slot
            k, v = cache.update(layer, k, v)                        # (B, n_kv_head, S, hd), pre-RoPE keys
            q, k = apply_rope(q, cos[-T:], sin[-T:]), apply_rope(k, cos, sin)
        else:
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            if cache is not None:
                k, v = cache.update(layer, k, v)                    # (B, n_kv_head, S, hd), S = pos + T
        if cache is not None and cache.static:  # a compiled decode step: plain ops, which inductor fuses into its
            # graph (SDPA would stay a separate kernel call: ~20% of a step). GQA: the query heads that share a kv
            # head become that head's rows (heads j*g ... j*g+g-1 read kv head j), so no copy of k, v is made
            q = q.view(B, self.n_kv_head, self.n_head // self.n_kv_head, self.hd)  # (B, n_kv_head, g, hd), T = 1
            att = (q @ k.transpose(-1, -2)) * self.hd ** -0.5                  # (B, n_kv_head, g, S)
            y = att.masked_fill(~mask, float('-inf')).softmax(-1) @ v          # (B, n_kv_head, g, hd)
            return self.c_proj(y.reshape(B, T, self.n_head * self.hd))
        S = k.size(2)
        causal = T > 1 and mask is None  # mask: a ragged batch's (B, 1, T, S) from GPT.trunk
        if causal and S > T:  # prefill after a prefix: query i sees the prefix and new tokens <= i
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(diagonal=S - T)
            causal = False
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0,
                                           enable_gqa=self.n_kv_head != self.n_head)
        y = y.transpose(1, 2).reshape(B, T, self.n_head * self.hd)  # (B, T, n_head * hd)
        return self.c_proj(y)


class SwiGLU(torch.autograd.Function):
    """silu(gate) * up from the fused projection h = [gate | up] (..., 2H). Autograd would compute the two halves'
    gradients separately and then cat them into a new (..., 2H) tensor; here each is written into its half of one."""

    @staticmethod
    def forward(ctx, h):
        gate, up = h.chunk(2, dim=-1)
        s = F.silu(gate)
        ctx.save_for_backward(h, s)
        return s * up

    @staticmethod
    def backward(ctx, g):
        h, s = ctx.saved_tensors
        gate, up = h.chunk(2, dim=-1)
        grad = torch.empty_like(h)
        torch.mul(g, s, out=grad[..., s.size(-1):])  # d/d up = g * silu(gate)
        torch.ops.aten.silu_backward.grad_input(g * up, gate, grad_input=grad[..., :s.size(-1)])  # g*up*silu'(gate)
        return grad


class MLP(nn.Module):
    """SwiGLU FFN (Shazeer 2020): down(silu(gate(x)) * up(x)); gate and up fused into one matmul."""

    def __init__(self, cfg):
        super().__init__()
        self.c_fc = nn.Linear(cfg.n_embd, 2 * cfg.ffn_hidden, bias=False)
        self.c_proj = nn.Linear(cfg.ffn_hidden, cfg.n_embd, bias=False)

    def forward(self, x):
        h = self.c_fc(x)
        if torch.is_grad_enabled() and h.device.type == 'cpu':
            return self.c_proj(SwiGLU.apply(h))  # CPU training: no cat in the backward
        gate, up = h.chunk(2, dim=-1)
        return self.c_proj(F.silu(gate) * up)


class MoE(nn.Module):
    """Top-k routed SwiGLU experts. Dispatch is vectorised: assignments are sorted by expert, each expert
    runs one matmul over its tokens (a loop over experts, never over tokens) and results are index_add-ed back.
    Top-2 weights are renormalised over the chosen experts (Mixtral); top-1 keeps the raw router probability
    so the router still gets a gradient (Switch). With a capacity, first choices are served before second
    choices and earlier tokens before later ones; assignments over capacity are dropped and the token passes
    through the residual connection alone for that expert."""

    def __init__(self, cfg):
        super().__init__()
        E, d, h = cfg.n_experts, cfg.n_embd, cfg.ffn_hidden
        self.n_experts, self.top_k, self.capacity_factor = E, cfg.moe_top_k, cfg.capacity_factor
        self.router = nn.Linear(d, E, bias=False)
        self.w_fc = nn.Parameter(torch.empty(E, 2 * h, d))    # per expert [gate; up], F.linear layout
        self.c_proj = nn.Parameter(torch.empty(E, d, h))      # per expert down projection
        nn.init.normal_(self.w_fc, std=0.02)
        nn.init.normal_(self.c_proj, std=0.02 / math.sqrt(2 * cfg.n_layer))
        self.stats = {}

    def forward(self, x):
        B, T, D = x.shape
        x = x.reshape(-1, D)                                   # (N, D)
        N, E, k = x.size(0), self.n_experts, self.top_k
        logits = self.router(x).float()                        # (N, E)
        probs = logits.softmax(dim=-1)
        weights, experts = probs.topk(k, dim=-1)               # (N, k)
        if k > 1:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        # choice-major order: all first choices, then all second choices
        flat_expert = experts.t().reshape(-1)                  # (k*N,)
        flat_token = torch.arange(N, device=x.device).repeat(k)
        flat_weight = weights.t().reshape(-1)
        order = torch.argsort(flat_expert, stable=True)        # grouped by expert, priority order kept
        counts = torch.bincount(flat_expert, minlength=E)      # (E,) assignments before capacity
        starts = torch.cumsum(counts, 0) - counts
        rank_in_expert = torch.empty_like(order)
        rank_in_expert[order] = torch.arange(order.numel(), device=x.device) - starts[flat_expert[order]]
        keep = torch.ones_like(flat_expert, dtype=torch.bool)
        if self.capacity_factor > 0:
            capacity = math.ceil(self.capacity_factor * N * k / E)
            keep = rank_in_expert < capacity
        out = torch.zeros_like(x)
        kept_order = order[keep[order]]
        kept_counts = torch.bincount(flat_expert[kept_order], minlength=E).tolist()
        for e, idx in enumerate(kept_order.split(kept_counts)):
            if idx.numel() == 0:
                continue
            tokens = flat_token[idx]
            gate, up = F.linear(x[tokens], self.w_fc[e]).chunk(2, dim=-1)
            y = F.linear(F.silu(gate) * up, self.c_proj[e])
            out.index_add_(0, tokens, (y * flat_weight[idx, None]).to(out.dtype))
        # Switch eq. 4 (summed over the k choices, as HF Mixtral does): E * sum_e f_e * P_e; ST-MoE eq. 5
        aux = E * (counts.float() / N * probs.mean(dim=0)).sum()
        z = torch.logsumexp(logits, dim=-1).pow(2).mean()
        self.stats = dict(aux_loss=aux, z_loss=z, load=counts.detach(), dropped=(~keep).sum().detach(),
                          dropped_mask=~keep.view(k, N).t())
        return out.view(B, T, D)


class RMSNormFunction(torch.autograd.Function):
    """RMSNorm (Zhang & Sennrich 2019, eq. 4): y = x / rms(x) * w, rms(x) = sqrt(mean(x^2) + eps), over the last dim.
    On CPU, torch 2.13 has a fused forward (F.rms_norm) but builds the backward from ~20 elementwise autograd ops;
    here it is the closed form, with x_hat = x / rms(x) and g the incoming gradient:
        dL/dw = sum over tokens of g * x_hat
        dL/dx = (g*w - x_hat * mean(g*w * x_hat)) / rms(x)
    Half the passes over the (tokens, C) activations (bench NOTES, 2026-12-06)."""

    @staticmethod
    def forward(ctx, x, weight, eps):
        C = x.size(-1)
        rstd = torch.rsqrt(torch.linalg.vector_norm(x, dim=-1, keepdim=True).square_().div_(C).add_(eps))  # (..., 1)
        x_hat = x * rstd
        ctx.save_for_backward(x_hat, rstd, weight)
        return x_hat * weight

    @staticmethod
    def backward(ctx, g):
        x_hat, rstd, weight = ctx.saved_tensors
        C = x_hat.size(-1)
        g_x_hat = (g * x_hat).view(-1, C)  # (tokens, C)
        grad_w = g_x_hat.sum(0) if ctx.needs_input_grad[1] else None  # frozen under LoRA
        mean = (g_x_hat @ weight).div_(C).view(rstd.shape)  # mean(g*w * x_hat) as one matrix-vector product
        return torch.mul(g, weight).addcmul_(x_hat, mean, value=-1).mul_(rstd), grad_w, None


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        if torch.is_grad_enabled() and x.device.type == 'cpu' and x.dtype == torch.float32:
            return RMSNormFunction.apply(x, self.weight, self.eps)  # CPU training: the 2x faster backward
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)  # one fused kernel (inference, CUDA)


class Block(nn.Module):
    def __init__(self, cfg, layer=0):
        super().__init__()
        self.norm1 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.norm2 = RMSNorm(cfg.n_embd, cfg.norm_eps)
        is_moe = cfg.n_experts > 0 and layer % cfg.moe_every == cfg.moe_every - 1
        self.mlp = MoE(cfg) if is_moe else MLP(cfg)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, cache=None, layer=0, mask=None):
        x = x + self.drop(self.attn(self.norm1(x), cos, sin, cache, layer, mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class GPT(nn.Module):
    compiled_model = None  # a weak reference to the one model whose compiled decode graphs are live (compile_decode)

    def __init__(self, cfg):
        super().__init__()
        self.config = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.drop = nn.Dropout(cfg.dropout)
        self.blocks = nn.ModuleList([Block(cfg, i) for i in range(cfg.n_layer)])
        self.norm = RMSNorm(cfg.n_embd, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.wte.weight  # Press & Wolf 2017
        if cfg.sink_token:
            self.sink = nn.Parameter(torch.randn(cfg.n_embd) * 0.02)
        cos, sin = rope_tables(cfg.head_dim, cfg.block_size + cfg.sink_token, cfg.rope_theta)
        self.register_buffer('cos', cos, persistent=False)
        self.register_buffer('sin', sin, persistent=False)
        self.activation_checkpointing = False
        self.compiled_step = None  # compile_decode()
        self.loss_chunk = 0  # > 0: the loss is computed over this many rows at a time, logits never whole
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith('c_proj.weight'):  # GPT-2: scale residual writes by 1/sqrt(2 * n_layer)
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=True, active=False):
        """Parameters; non_embedding drops the token-embedding lookup (free), but keeps a tied head's matmul.
        active counts only the top_k of n_experts experts a token goes through (the FLOPs that matter)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and not self.config.tie_embeddings:
            n -= self.wte.weight.numel()
        if active:
            for b in self.blocks:
                if isinstance(b.mlp, MoE):
                    n -= (b.mlp.w_fc.numel() + b.mlp.c_proj.numel()) * (1 - b.mlp.top_k / b.mlp.n_experts)
        return int(n)

    def forward(self, idx, targets=None, cache=None, last_only=False, extrapolate=False, pad=None, select=None):
        """idx (B, T) token ids. targets (B, T) with -1 = ignore. Returns (logits, loss); in training the loss
        includes the MoE auxiliary losses. last_only computes the head for the final position only
        (generation). extrapolate allows positions past block_size (the long-context experiments). pad (B,):
        row b starts with pad[b] padding tokens (a left-padded ragged batch, see trunk). select (N,): the flat
        positions b * T + t that get the LM head, logits (N, V) and targets (N,): SFT and DPO score response
        tokens only, and a prompt's positions need no logits (the head and its softmax are a third of the tiny
        model's FLOPs)."""
        x = self.trunk(idx, cache, extrapolate, pad)
        if last_only:
            x = x[:, -1:, :]
        if select is not None:
            x = x.reshape(-1, x.size(-1))[select]  # (B, T, C) -> (N, C)
        logits, loss = None, None
        if targets is not None and self.loss_chunk:
            loss = chunked_cross_entropy(x.view(-1, x.size(-1)), self.lm_head.weight, targets.reshape(-1), self.loss_chunk)
        else:
            logits = self.lm_head(x)
            if targets is not None:
                loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        if loss is not None and self.training:
            loss = loss + self.router_loss()
        return logits, loss

    def trunk(self, idx, cache=None, extrapolate=False, pad=None):
        """idx (B, T) -> the final normed hidden states (B, T, n_embd): everything but the LM head (a verifier
        puts its own head here). pad (B,) left-pads a ragged batch: row b's first pad[b] tokens (after the sink
        slot, or after the prefix a KVCache.expand cache shares) are padding that no real token attends to, and
        its tokens take positions counted from its own start, so each row computes what it would alone."""
        B, T = idx.shape
        x = self.wte(idx)
        sink = self.config.sink_token and (cache is None or cache.seen == 0)
        if sink:  # the sink token takes position 0; its output is dropped below
            x = torch.cat([self.sink.expand(B, 1, -1).to(x.dtype), x], dim=1)
            T += 1
        if cache is not None and cache.static:  # one token a row, all rows at slot cache.at (a tensor)
            if T != 1 or pad is not None:
                raise ConfigError("a StaticKVCache takes one token a row, no ragged batch")
            keys = torch.arange(cache.max_len, device=idx.device) <= cache.at           # (S,) slots written
            x = self.blocks_forward(self.drop(x), self.cos[cache.at], self.sin[cache.at], cache, keys[None, None, None])
            return self.norm(x)
        if cache is not None and cache.streaming:
            lo, hi = 0, cache.slots_after(T)  # RoPE by cache slot
        else:
            lo = cache.pos if cache is not None else 0
            hi = lo + T
        if hi > self.config.block_size + self.config.sink_token and not extrapolate:
            raise ConfigError(f"sequence of {hi - self.config.sink_token} tokens exceeds block_size={self.config.block_size}")
        cos, sin = self.rope(hi)
        mask = None
        if pad is None:
            cos, sin = cos[lo:hi], sin[lo:hi]                                  # (T, hd)
        else:
            if cache is not None and cache.streaming:
                raise ConfigError("a ragged (left-padded) batch needs the plain KV cache, not a streaming one")
            s = cache.shared if cache is not None and cache.shared else self.config.sink_token  # slots before the padding
            t = torch.arange(lo, hi, device=idx.device)                         # this call's slots
            pos = torch.where(t < s, t, t - pad[:, None]).clamp(min=0)          # (B, T) each row's own positions
            cos, sin = cos[pos][:, None], sin[pos][:, None]                     # (B, 1, T, hd)
            j = torch.arange(hi, device=idx.device)                             # key slots
            real = (j < s) | (j >= s + pad[:, None])                            # (B, S) keys that are not padding
            # causal over the real keys; a padding query also sees itself, so no row of the softmax is empty
            mask = (real[:, None, :] | (j == t[:, None])) & (j <= t[:, None])   # (B, T, S)
            mask = mask[:, None]                                                # (B, 1, T, S)
        x = self.blocks_forward(self.drop(x), cos, sin, cache, mask)
        if sink:
            x = x[:, 1:]
        return self.norm(x)

    def blocks_forward(self, x, cos, sin, cache=None, mask=None):
        """x (B, T, n_embd) through every block; then the cache moves past these T slots."""
        for i, block in enumerate(self.blocks):
            if self.activation_checkpointing and self.training:
                x = torch.utils.checkpoint.checkpoint(block, x, cos, sin, use_reentrant=False)
            else:
                x = block(x, cos, sin, cache, i, mask)
        if cache is not None:
            cache.advance(x.size(1))
        return x

    @torch.no_grad()
    def attention_maps(self, idx):
        """Attention probabilities of every layer, (n_layer, B, n_head, T, T), written out explicitly (SDPA
        never materialises them): for figures and the attention-sink analysis, not for speed."""
        maps = []

        def probe(attn, args):
            x, cos, sin = args[:3]
            T = x.size(1)
            q, k, _ = attn.qkv(x)
            q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
            k = k.repeat_interleave(attn.n_head // attn.n_kv_head, dim=1)  # (B, n_head, T, hd)
            scores = (q @ k.transpose(-2, -1)) / math.sqrt(attn.hd)
            causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
            maps.append(scores.masked_fill(~causal, float('-inf')).softmax(-1).float())

        hooks = [b.attn.register_forward_pre_hook(probe) for b in self.blocks]
        try:
            self(idx)
        finally:
            for h in hooks:
                h.remove()
        return torch.stack(maps)

    def rope(self, length):
        """cos/sin tables covering `length` positions, grown on demand (only extrapolation needs more)."""
        if length > self.cos.size(0):
            cos, sin = rope_tables(self.config.head_dim, length, self.config.rope_theta, self.cos.device)
            self.cos, self.sin = cos.to(self.cos.dtype), sin.to(self.sin.dtype)
        return self.cos, self.sin

    def router_loss(self):
        """The MoE balance terms of the last forward, weighted (Switch aux loss + ST-MoE z-loss); 0 when dense.
        Training code that computes its own loss from the logits adds this."""
        if not self.config.n_experts:
            return 0.0
        stats = self.moe_stats()
        return self.config.aux_loss_coef * stats['aux_loss'] + self.config.z_loss_coef * stats['z_loss']

    def moe_stats(self):
        """Auxiliary losses (mean over MoE layers), expert load (summed) and dropped assignments of the last forward."""
        layers = [b.mlp.stats for b in self.blocks if isinstance(b.mlp, MoE) and b.mlp.stats]
        if not layers:
            return {}
        return dict(aux_loss=sum(s['aux_loss'] for s in layers) / len(layers),
                    z_loss=sum(s['z_loss'] for s in layers) / len(layers),
                    load=sum(s['load'] for s in layers), dropped=sum(s['dropped'] for s in layers))

    # -------------------------------------------------------------------------
    # Training helpers

    def configure_optimizer(self, weight_decay, learning_rate, betas, device_type):
        """AdamW; decay only matrices (>= 2-D), not norms. Fused kernel on CUDA."""
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [dict(params=[p for p in params if p.dim() >= 2], weight_decay=weight_decay),
                  dict(params=[p for p in params if p.dim() < 2], weight_decay=0.0)]
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=device_type == 'cuda')

    def flops_per_token(self, seq_len=None):
        """PaLM (Chowdhery et al. 2022) appendix B: 6N + 12 L H Q T per token, forward + backward."""
        cfg, T = self.config, seq_len or self.config.block_size
        return 6 * self.num_params(active=True) + 12 * cfg.n_layer * cfg.n_head * cfg.head_dim * T

    def estimate_mfu(self, tokens_per_s, peak_flops, seq_len=None):
        return self.flops_per_token(seq_len) * tokens_per_s / peak_flops

    # -------------------------------------------------------------------------
    # Generation

    @torch.no_grad()
    def stream(self, idx, max_new_tokens, temperature=1.0, top_k=None, top_p=None, stop_tokens=(),
               generator=None, use_cache=True, window=0, n_sink=4, num_samples=1, force=None, pad=None,
               prefix=None, decode_threads=None):
        """Yield the next token column (B * num_samples,) for each step. With use_cache the prompt is prefilled
        once and each step feeds one token; without it (nanoGPT's way) the whole window is recomputed every step.
        window > 0 streams with a StreamingKVCache (n_sink + window slots): no length limit at all.
        num_samples > 1 prefills each prompt once and decodes num_samples continuations of it from the shared
        cache (rows b*num_samples ... (b+1)*num_samples - 1 belong to prompt b).
        force(next_tokens) -> next_tokens may overwrite what was sampled (tool use writes a result in).
        pad (B,): prompts of different lengths, left-padded to one width (engine.generate_batch); each row then
        decodes what it would alone.
        prefix: a one-row KVCache of tokens that come before every prompt (few-shot exemplars), prefilled once;
        each row then decodes what prefix + its prompt would alone.
        Rows that have produced a stop token keep emitting it; the stream ends when every row has. With the KV
        cache, finished rows also stop costing work: once a quarter of the rows still decoding have finished, they
        are dropped from the batch and its cache (each row's computation is its own, so this changes no row).
        decode_threads: CPU threads for the steps after the prefill (restored when the stream ends). None = one
        thread where at most 4 rows decode from the KV cache: their ops take a few microseconds, less than waking
        a sleeping OpenMP thread costs under OMP_WAIT_POLICY=PASSIVE (bench.py: batch-1 int8 decoding ~1.7x).
        After compile_decode(), the one-token steps of a plain (not ragged, not streaming) stream run as the
        compiled graph over a StaticKVCache, and finished rows stay in the batch (a new batch size would be a
        new graph)."""
        B, T0 = idx.shape
        if (num_samples > 1 or pad is not None or prefix is not None) and (window or not use_cache):
            raise ConfigError("num_samples > 1, ragged batches and a shared prefix use a KV cache: they need "
                              "use_cache=True and window=0")
        P = prefix.pos if prefix is not None else 0  # cache slots the prefix fills (its sink token included)
        if window:
            cache = StreamingKVCache(self.config.n_layer, n_sink, window)
            if cache.max_len > self.config.block_size:
                raise ConfigError(f"n_sink + window = {cache.max_len} exceeds block_size={self.config.block_size}")
            prefix = idx[:, :-1]
            head = prefix[:, :cache.max_len - 1 - self.config.sink_token]
            if head.size(1):
                self(head, cache=cache, last_only=True)
            for t in range(head.size(1), prefix.size(1)):  # past the cache size, the prompt goes in one token at a time
                self(prefix[:, t:t + 1], cache=cache, last_only=True)
            x = idx[:, -1:]
        else:
            T0 += P - (self.config.sink_token if P else 0)  # the prompt's tokens, the shared prefix included
            if T0 > self.config.block_size:
                raise ConfigError(f"prompt of {T0} tokens exceeds block_size={self.config.block_size}")
            if use_cache and T0 + max_new_tokens > self.config.block_size:
                raise ConfigError(f"prompt ({T0}) + max_new_tokens ({max_new_tokens}) exceeds block_size="
                                  f"{self.config.block_size}; lower max_new_tokens or stream with window > 0")
            slots = T0 + max_new_tokens + self.config.sink_token
            cache = (prefix.expand(B, slots) if prefix is not None else
                     KVCache(self.config.n_layer, slots) if use_cache else None)
            x = idx
        stop = torch.tensor(list(stop_tokens), dtype=torch.long, device=idx.device)
        done = torch.zeros(B * num_samples, dtype=torch.bool, device=idx.device)
        live = torch.arange(B * num_samples, device=idx.device)  # the rows still in the batch (all, until compacted)
        static = self.compiled_step is not None and cache is not None and not cache.streaming and pad is None
        compact = len(stop) and cache is not None and not cache.streaming and not static  # can finished rows leave?
        threads = torch.get_num_threads()
        if decode_threads is None:
            decode_threads = 1 if idx.device.type == 'cpu' and use_cache and B * num_samples <= 4 else threads
        # On a GPU, bf16 attention goes to cuDNN's kernel, which builds a plan for each new shape, and a decode
        # step's shape is new every step (the cache grows, finished rows leave): the steps use the other kernels.
        # (H200, 512 rows: 23 ms a step on a first pass, 3 ms once the plans were cached; experiments/gpu/NOTES.md)
        cudnn_sdp = torch.backends.cuda.cudnn_sdp_enabled()
        if idx.device.type == 'cuda':
            torch.backends.cuda.enable_cudnn_sdp(False)
        try:
            for step in range(max_new_tokens):
                if cache is None:
                    x = x[:, -self.config.block_size:]
                if static and step > 0:  # the compiled step; its guards are checked on the first call only
                    with torch.compiler.set_stance('default', skip_guard_eval_unsafe=step > 1):
                        logits, _ = self.compiled_step(x, cache=cache, last_only=True)
                else:
                    logits, _ = self(x, cache=cache, last_only=True, pad=pad)
                if step == 0 and num_samples > 1:  # one prefill, num_samples decodes (nanochat's engine)
                    cache.repeat(num_samples)
                    logits = logits.repeat_interleave(num_samples, dim=0)
                    pad = pad.repeat_interleave(num_samples) if pad is not None else None
                if step == 0 and static:
                    cache = StaticKVCache(cache)
                nxt = sample_next(logits[:, -1, :].float(), temperature, top_k, top_p, generator)  # (n_live,)
                if len(live) < len(done):  # rows that left the batch go on emitting the stop token
                    nxt = torch.full_like(done, stop[0], dtype=torch.long).index_copy_(0, live, nxt)
                if force is not None:
                    nxt = force(nxt)
                if len(stop):
                    nxt = torch.where(done, stop[0], nxt)
                    done |= torch.isin(nxt, stop)
                yield nxt
                if done.all():
                    return
                if step == 0:  # the prefill ran on every thread; the one-token steps run on decode_threads
                    torch.set_num_threads(decode_threads)
                if compact and done[live].sum() >= max(1, len(live) // 4):
                    keep = ~done[live]  # finished rows leave the batch: (n_live,) -> (n_keep,)
                    live = live[keep]
                    cache.select(keep)
                    pad = pad[keep] if pad is not None else None
                x = nxt[live][:, None] if cache is not None else torch.cat([x, nxt[:, None]], dim=1)
        finally:
            torch.set_num_threads(threads)
            torch.backends.cuda.enable_cudnn_sdp(cudnn_sdp)

    def compile_decode(self):
        """Opt-in (sample.py and bench.py): stream()'s one-token steps run as one torch.compile graph over a
        StaticKVCache. Inductor fuses a step's ~270 small ops (norms, RoPE, residual adds, casts: half of an
        int8 step's time in eager mode, bench NOTES) into a few kernels and, with max_autotune, generates its own
        GEMM for int8 weights. Freezing folds the weights in as constants: for inference only, weights changed
        after the first compiled step are not seen. One compilation (~40 s on 2 cores) per batch size and cache
        length, so it pays for long generations, not for a short sample."""
        if any(isinstance(b.mlp, MoE) for b in self.blocks):
            raise ConfigError("compiled decoding is for dense models: an MoE step routes tokens by value")
        import torch._inductor.config as inductor_config
        # Frozen weights are constants of the graph, but dynamo's guards would let another model instance of the
        # same shapes reuse it (its code object is GPT.forward): drop every compiled graph of this process first,
        # and the model compiled before this one decodes eagerly again.
        torch._dynamo.reset()
        previous = GPT.compiled_model() if GPT.compiled_model else None
        if previous is not None and previous is not self:
            previous.compiled_step = None
        GPT.compiled_model = weakref.ref(self)
        compiled = torch.compile(self.forward, fullgraph=True, dynamic=False, mode='max-autotune-no-cudagraphs')

        def step(*args, **kwargs):  # freezing is read when a graph compiles (as options= it did not take here)
            with inductor_config.patch(freezing=True):
                return compiled(*args, **kwargs)
        self.compiled_step = step

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, **kwargs):
        """idx (B, T) -> (B * num_samples, T + new) token ids. kwargs as in stream()."""
        new = list(self.stream(idx, max_new_tokens, **kwargs))
        idx = idx.repeat_interleave(kwargs.get('num_samples', 1), dim=0)
        return torch.cat([idx] + [t[:, None] for t in new], dim=1) if new else idx

    # -------------------------------------------------------------------------
    # Hugging Face interop: our layout <-> LlamaForCausalLM (q/k/v and gate/up are fused here, split there)

    def to_hf_state_dict(self):
        cfg, sd = self.config, self.state_dict()
        if cfg.n_experts or cfg.sink_token:
            raise ConfigError("only dense models without a sink token map onto LlamaForCausalLM")
        q, kv, h = cfg.n_head * cfg.head_dim, cfg.n_kv_head * cfg.head_dim, cfg.ffn_hidden
        out = {'model.embed_tokens.weight': sd['wte.weight'], 'model.norm.weight': sd['norm.weight'],
               'lm_head.weight': sd['lm_head.weight']}
        for i in range(cfg.n_layer):
            p, o = f'blocks.{i}.', f'model.layers.{i}.'
            wq, wk, wv = sd[p + 'attn.c_attn.weight'].split([q, kv, kv])
            gate, up = sd[p + 'mlp.c_fc.weight'].split([h, h])
            out.update({o + 'input_layernorm.weight': sd[p + 'norm1.weight'],
                        o + 'post_attention_layernorm.weight': sd[p + 'norm2.weight'],
                        o + 'self_attn.q_proj.weight': wq, o + 'self_attn.k_proj.weight': wk,
                        o + 'self_attn.v_proj.weight': wv, o + 'self_attn.o_proj.weight': sd[p + 'attn.c_proj.weight'],
                        o + 'mlp.gate_proj.weight': gate, o + 'mlp.up_proj.weight': up,
                        o + 'mlp.down_proj.weight': sd[p + 'mlp.c_proj.weight']})
        return {k: v.detach().clone().contiguous() for k, v in out.items()}

    def hf_config(self, eos_token_id=None):
        from transformers import LlamaConfig
        cfg = self.config
        return LlamaConfig(vocab_size=cfg.vocab_size, hidden_size=cfg.n_embd, intermediate_size=cfg.ffn_hidden,
                           num_hidden_layers=cfg.n_layer, num_attention_heads=cfg.n_head,
                           num_key_value_heads=cfg.n_kv_head, head_dim=cfg.head_dim, hidden_act='silu',
                           max_position_embeddings=cfg.block_size, rms_norm_eps=cfg.norm_eps,
                           rope_theta=cfg.rope_theta, tie_word_embeddings=cfg.tie_embeddings,
                           attention_bias=False, mlp_bias=False, bos_token_id=eos_token_id,
                           eos_token_id=eos_token_id)

    def export_hf(self, folder, eos_token_id=None):
        """Write a LlamaForCausalLM folder (config.json + model.safetensors) that loads with from_pretrained."""
        from transformers import LlamaForCausalLM
        hf = LlamaForCausalLM(self.hf_config(eos_token_id))
        hf.load_state_dict(self.to_hf_state_dict(), strict=True)
        hf.save_pretrained(folder, safe_serialization=True)
        return folder

    @classmethod
    def from_hf(cls, folder_or_model):
        """Build our GPT from a LlamaForCausalLM (folder or instance) without biases."""
        from transformers import LlamaForCausalLM
        hf = folder_or_model if isinstance(folder_or_model, nn.Module) else \
            LlamaForCausalLM.from_pretrained(folder_or_model, dtype=torch.float32)
        c = hf.config
        if getattr(c, 'attention_bias', False) or getattr(c, 'mlp_bias', False):
            raise ConfigError("only bias-free Llama models can be imported")
        theta = (getattr(c, 'rope_parameters', None) or {}).get('rope_theta', getattr(c, 'rope_theta', 10000.0))
        cfg = GPTConfig(block_size=c.max_position_embeddings, vocab_size=c.vocab_size, n_layer=c.num_hidden_layers,
                        n_head=c.num_attention_heads, n_kv_head=c.num_key_value_heads, n_embd=c.hidden_size,
                        ffn_hidden=c.intermediate_size, rope_theta=float(theta), norm_eps=c.rms_norm_eps,
                        tie_embeddings=bool(c.tie_word_embeddings))
        model = cls(cfg)
        sd = hf.state_dict()
        ours = {'wte.weight': sd['model.embed_tokens.weight'], 'norm.weight': sd['model.norm.weight'],
                'lm_head.weight': sd.get('lm_head.weight', sd['model.embed_tokens.weight'])}
        for i in range(cfg.n_layer):
            p, o = f'blocks.{i}.', f'model.layers.{i}.'
            ours.update({
                p + 'norm1.weight': sd[o + 'input_layernorm.weight'],
                p + 'norm2.weight': sd[o + 'post_attention_layernorm.weight'],
                p + 'attn.c_attn.weight': torch.cat([sd[o + f'self_attn.{n}_proj.weight'] for n in 'qkv']),
                p + 'attn.c_proj.weight': sd[o + 'self_attn.o_proj.weight'],
                p + 'mlp.c_fc.weight': torch.cat([sd[o + 'mlp.gate_proj.weight'], sd[o + 'mlp.up_proj.weight']]),
                p + 'mlp.c_proj.weight': sd[o + 'mlp.down_proj.weight']})
        model.load_state_dict(ours, strict=True)
        return model


def _ce_sum(x, weight, targets):
    return F.cross_entropy(F.linear(x, weight).float(), targets, ignore_index=-1, reduction='sum')


def chunked_cross_entropy(x, weight, targets, chunk):
    """Mean cross-entropy of the head over x (N, d) without holding the (N, V) logits: each chunk's logits are
    recomputed in the backward pass (activation checkpointing), trading one extra head matmul for
    N x V x 10 bytes of memory, which is gigabytes for a 50k vocabulary at context 1024."""
    total = x.new_zeros((), dtype=torch.float32)
    for i in range(0, x.size(0), chunk):
        total = total + torch.utils.checkpoint.checkpoint(_ce_sum, x[i:i + chunk], weight, targets[i:i + chunk],
                                                          use_reentrant=False)
    return total / (targets != -1).sum().clamp_min(1)


def sequence_logps(model, x, y):
    """Sum of log p(y_t | x_<t) over the response tokens (y != -1) of each row: log pi(y|x), (B,). The
    quantity DPO compares between policy and reference, and preference accuracy ranks."""
    keep = (y.reshape(-1) != -1).nonzero()[:, 0]  # flat positions of the response tokens, (N,)
    logits, _ = model(x, select=keep)             # (N, V): no head on the prompt and the padding
    logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, y.reshape(-1)[keep, None])[:, 0]  # (N,)
    return torch.zeros(y.size(0), device=y.device).index_add_(0, keep // y.size(1), logp)


def sample_next(logits, temperature=1.0, top_k=None, top_p=None, generator=None):
    """logits (B, V) -> (B,) token ids. temperature 0 = greedy; top-k, then nucleus (Holtzman et al. 2019)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k:
        kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float('-inf'))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        drop = probs.cumsum(dim=-1) - probs > top_p  # keep the smallest prefix with mass >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float('-inf'))
        logits = torch.full_like(logits, float('-inf')).scatter(-1, order, sorted_logits)
    probs = logits.softmax(dim=-1)
    # inverse-CDF sampling: one uniform per row against the running sum of the probabilities. (torch.multinomial
    # on CPU draws an exponential per vocabulary entry: ~30% of a 64-row sampling step at V = 8192.) u in (0, 1]
    # makes the first index whose cdf reaches u * total a token of nonzero probability, and always a valid one.
    cdf = probs.cumsum(dim=-1)                                                           # (B, V)
    u = 1.0 - torch.rand(probs.size(0), 1, device=probs.device, generator=generator)    # (B, 1)
    return torch.searchsorted(cdf, u * cdf[:, -1:]).squeeze(-1)


# -----------------------------------------------------------------------------
# LoRA (Hu et al. 2021): W x + (alpha / r) B A x with A (r, in), B (out, r) = 0 at init, so training starts
# from the base model exactly. Wraps nn.Linear and HF GPT-2's Conv1D (whose weight is stored (in, out)).

class LoRALinear(nn.Module):
    def __init__(self, base, r=8, alpha=16, dropout=0.0):
        super().__init__()
        self.base = base
        self.conv1d = type(base).__name__ == 'Conv1D'
        w = base.weight
        in_f, out_f = (w.shape[0], w.shape[1]) if self.conv1d else (w.shape[1], w.shape[0])
        self.lora_A = nn.Parameter(torch.empty(r, in_f, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(out_f, r, device=w.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # as nn.Linear (and the paper's reference code)
        self.scaling = alpha / r
        self.drop = nn.Dropout(dropout)
        self.merged = False
        self.enabled = True  # False = the frozen base alone (DPO's reference model for free)

    def delta_weight(self):
        delta = (self.lora_B @ self.lora_A) * self.scaling  # (out, in)
        return delta.t() if self.conv1d else delta

    def forward(self, x):
        y = self.base(x)
        if self.enabled and not self.merged:
            y = y + F.linear(F.linear(self.drop(x), self.lora_A), self.lora_B) * self.scaling
        return y

    @torch.no_grad()
    def merge(self):
        if isinstance(self.base, NF4Linear):
            raise ConfigError("cannot merge LoRA into a 4-bit base; keep it unmerged or merge into the fp32 weights")
        if not self.merged:
            self.base.weight += self.delta_weight().to(self.base.weight.dtype)
            self.merged = True

    @torch.no_grad()
    def unmerge(self):
        if self.merged:
            self.base.weight -= self.delta_weight().to(self.base.weight.dtype)
            self.merged = False


def _lora_targets(model, targets):
    """Module names whose full name or last component matches one of the fnmatch patterns."""
    import fnmatch
    found = []
    for name, module in model.named_modules():
        if isinstance(module, (nn.Linear, NF4Linear)) or type(module).__name__ == 'Conv1D':
            leaf = name.rsplit('.', 1)[-1]
            if any(fnmatch.fnmatch(name, t) or fnmatch.fnmatch(leaf, t) for t in targets):
                found.append(name)
    return found


def apply_lora(model, targets=('c_attn', 'c_proj'), r=8, alpha=16, dropout=0.0):
    """Wrap the matching linear layers in LoRALinear and freeze everything else. Works on our GPT and on HF
    GPT-2 (fused c_attn Conv1D), T5 (q, v), Llama (q_proj, v_proj, ...). Returns the wrapped module names."""
    names = _lora_targets(model, targets)
    if not names:
        raise ConfigError(f"LoRA targets {list(targets)} match no linear layer of {type(model).__name__}")
    for p in model.parameters():
        p.requires_grad_(False)
    for name in names:
        parent, _, leaf = name.rpartition('.')
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, leaf, LoRALinear(getattr(owner, leaf), r, alpha, dropout))
    return names


def lora_layers(model):
    return [m for m in model.modules() if isinstance(m, LoRALinear)]


def set_lora(model, merged=None, enabled=None):
    """merge/unmerge or enable/disable every adapter of the model."""
    for m in lora_layers(model):
        if merged is not None:
            m.merge() if merged else m.unmerge()
        if enabled is not None:
            m.enabled = enabled


def merge_lora(model):
    """Fold every adapter into its base weight and put the plain layer back in its place: the model then has
    its original architecture and state-dict names (for save_pretrained, export), and the same outputs."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoRALinear):
            module.merge()
            parent, _, leaf = name.rpartition('.')
            setattr(model.get_submodule(parent) if parent else model, leaf, module.base)


def lora_state_dict(model):
    """Adapter-only weights: what a LoRA run needs to save."""
    return {k: v.detach().clone() for k, v in model.state_dict().items() if 'lora_' in k}


def load_lora_state_dict(model, state):
    missing = {k for k in model.state_dict() if 'lora_' in k} - set(state)
    unexpected = set(state) - {k for k in model.state_dict() if 'lora_' in k}
    if missing or unexpected:
        raise ConfigError(f"adapter does not fit the model: missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]}")
    model.load_state_dict(state, strict=False)


# -----------------------------------------------------------------------------
# 4-bit NormalFloat base weights (QLoRA, Dettmers et al. 2023): per block of 64 weights, an absmax scale
# and 16 quantile levels of N(0, 1); two codes per byte; dequantised on the fly in the forward pass.

NF4_LEVELS = torch.tensor([-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
                           -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
                           0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
                           0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0])  # QLoRA appendix E


class NF4Linear(nn.Module):
    """A frozen nn.Linear stored as NF4 codes + fp32 absmax per block. 0.5625 bytes/weight instead of 4."""

    def __init__(self, linear, block=64):
        super().__init__()
        w = linear.weight.detach().float()
        self.out_features, self.in_features = w.shape
        if w.numel() % (2 * block):
            raise ConfigError(f"NF4 needs the weight size ({w.numel()}) to be a multiple of {2 * block}")
        blocks = w.reshape(-1, block)                                    # (n_blocks, block)
        absmax = blocks.abs().amax(dim=1, keepdim=True).clamp_min(1e-12)
        codes = (blocks / absmax).unsqueeze(-1).sub(NF4_LEVELS.to(w.device)).abs().argmin(-1).to(torch.uint8)
        codes = codes.reshape(-1, 2)
        self.register_buffer('packed', codes[:, 0] << 4 | codes[:, 1])  # (numel / 2,) uint8
        self.register_buffer('absmax', absmax.squeeze(1))
        self.register_buffer('levels', NF4_LEVELS.clone().to(w.device))
        self.block = block

    @property
    def weight(self):
        codes = torch.stack([self.packed >> 4, self.packed & 15], dim=1).reshape(-1, self.block).long()
        w = self.levels[codes] * self.absmax[:, None]
        return w.reshape(self.out_features, self.in_features)

    def forward(self, x):
        return F.linear(x, self.weight.to(x.dtype))


def quantize_nf4(model, skip=('lm_head',)):
    """Replace frozen nn.Linear layers (LoRA bases included) by NF4Linear; returns the bytes saved."""
    saved = 0
    for name, module in list(model.named_modules()):
        for leaf, child in list(module.named_children()):
            if isinstance(child, nn.Linear) and not child.weight.requires_grad and leaf not in skip \
                    and child.weight.numel() % 128 == 0:
                q = NF4Linear(child)
                saved += child.weight.numel() * child.weight.element_size() - q.packed.numel() - 4 * q.absmax.numel()
                setattr(module, leaf, q)
    return saved


# -----------------------------------------------------------------------------
# Weight-only int8 for decoding. At batch 1 a token reads every weight once, so decoding is bound by the bytes of
# the weights (4 per parameter in fp32), not by FLOPs. int8 weights with one bf16 scale per output channel
# (absmax, the vector-wise quantization of LLM.int8(), Dettmers et al. 2022, without its outlier split) read a
# quarter of the bytes; the activations go through the matmul in bf16 (torch's int8 weight-only CPU kernel, the
# one gpt-fast uses). Opt-in, for inference only: tests/test_arch.py bounds the logit change and checks the
# greedy tokens against fp32.

def int8_supported(device):
    """Whether this torch build runs the int8 weight-only kernel on this device (tried once on a tiny input)."""
    if torch.device(device).type != 'cpu':
        return False
    try:
        w = torch.ones(8, 32, dtype=torch.int8)
        torch._weight_int8pack_mm(torch.ones(1, 32, dtype=torch.bfloat16), w, torch.ones(8, dtype=torch.bfloat16))
        return True
    except (RuntimeError, AttributeError, NotImplementedError):
        return False


class Int8Linear(nn.Module):
    """A frozen nn.Linear as int8 codes (out, in) and a bf16 scale per output row: w ~= codes * scale."""

    def __init__(self, linear):
        super().__init__()
        w = linear.weight.detach().float()
        self.out_features, self.in_features = w.shape
        # the kernel takes bf16 scales: round the scale first, then the codes against it (error <= half a step)
        scale = (w.abs().amax(dim=1).clamp_min(1e-8) / 127).to(torch.bfloat16)    # (out,)
        self.register_buffer('codes', torch.round(w / scale.float()[:, None]).clamp(-127, 127).to(torch.int8))
        self.register_buffer('scale', scale)

    def forward(self, x):
        y = torch._weight_int8pack_mm(x.reshape(-1, self.in_features).to(torch.bfloat16), self.codes, self.scale)
        return y.view(*x.shape[:-1], self.out_features).to(x.dtype)


def quantize_int8(model, skip=('router',)):
    """Replace every nn.Linear (attention, MLP, the LM head; not the MoE router, whose top-k a rounding could
    flip) by Int8Linear, in place, for decoding. Returns the number replaced: 0 where the CPU kernel is missing
    (the fp32 fallback: the model is left as it was). A tied LM head keeps the fp32 embedding for the lookup."""
    if not int8_supported(next(model.parameters()).device):
        return 0
    n = 0
    for module in list(model.modules()):
        for leaf, child in list(module.named_children()):
            if type(child) is nn.Linear and leaf not in skip:
                setattr(module, leaf, Int8Linear(child))
                n += 1
    return n


# -----------------------------------------------------------------------------
# Memory planner: what a training config will need, printed before the first step.

def estimate_memory(cfg, batch_size, param_bytes=4, act_bytes=2, activation_checkpointing=False, loss_chunk=0):
    """Bytes for params, grads, AdamW moments (fp32 master weights), activations and a full KV cache.
    Activations are the tensors each layer keeps for backward, counted from the real widths (norm input,
    q/k/v, attention output, SwiGLU gate/up/product, residual), the terms of Korthikanti et al. 2022 §4 with
    flash attention keeping no T x T scores. Checkpointing keeps one layer input per layer plus one layer's
    working set. The logits term (B T V) dominates small models with big vocabularies. Under autocast
    (act_bytes < param_bytes) the half-precision weight copies autocast caches for the step count too.
    Checked on an H100 capped at 12 GB (experiments/gpu/): medium +2%, max (checkpointed) -15% of the measured peak."""
    with torch.device('meta'):  # count parameters exactly, without allocating them
        n_params = sum(p.numel() for p in GPT(cfg).parameters())
    h, L, V, T, B = cfg.n_embd, cfg.n_layer, cfg.vocab_size, cfg.block_size, batch_size
    kv = cfg.n_kv_head * cfg.head_dim
    params = n_params * param_bytes
    grads = n_params * param_bytes
    adam = 2 * n_params * 4
    attn_acts = (4 * h + 2 * kv + h) * T * B              # norm in, qkv, attention out, proj out
    ffn_acts = (h + 3 * cfg.ffn_hidden + h) * T * B       # norm in, gate/up, silu*up, out
    layer_acts = (attn_acts + ffn_acts) * act_bytes
    acts = (L * h * T * B * act_bytes + layer_acts) if activation_checkpointing else L * layer_acts
    logits = (loss_chunk or B * T) * V * (act_bytes + 4 + 4)  # logits, fp32 copy for the loss, its grad
    cast = n_params * act_bytes if act_bytes < param_bytes else 0
    kv_cache = 2 * L * B * T * kv * act_bytes
    total = params + grads + adam + cast + acts + logits
    return dict(n_params=n_params, params=params, grads=grads, optimizer=adam, autocast_weights=cast,
                activations=acts, logits=logits, kv_cache_generation=kv_cache, total_training=total)
