#!/usr/bin/env python3
"""The PyTorch peer of `bench --peer pytorch`: the same work as the engine, written the way a
researcher would (nanoGPT-style GPT-2, masked-softmax attention because torch 1.13 has no SDPA,
torch.no_grad generation with a KV cache, AdamW + clipping).

Usage: peer_bench.py SPEC.json   (or '-' for stdin). The spec (written by the engine's PeerBench) fixes
threads, seeds and every shape; the answer is one JSON object on stdout. Timing protocol, shared with
the engine: warm-up runs first, then the best of `reps` timed runs.
"""
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        e, self.n_head = cfg["n_embd"], cfg["n_head"]
        self.c_attn = nn.Linear(e, 3 * e)
        self.c_proj = nn.Linear(e, e)
        p = cfg["n_positions"]
        self.register_buffer("bias", torch.tril(torch.ones(p, p, dtype=torch.bool)).view(1, 1, p, p))

    def forward(self, x, past=None):
        b, t, c = x.size()
        q, k, v = self.c_attn(x).split(c, dim=2)
        h = self.n_head
        q = q.view(b, t, h, c // h).transpose(1, 2)
        k = k.view(b, t, h, c // h).transpose(1, 2)
        v = v.view(b, t, h, c // h).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        s = k.size(2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(~self.bias[:, :, s - t:s, :s], float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, t, c)
        return self.c_proj(y), (k, v)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        e = cfg["n_embd"]
        self.ln_1 = nn.LayerNorm(e, eps=1e-5)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(e, eps=1e-5)
        self.c_fc = nn.Linear(e, 4 * e)
        self.c_proj = nn.Linear(4 * e, e)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's gelu_new

    def forward(self, x, past=None):
        a, present = self.attn(self.ln_1(x), past)
        x = x + a
        x = x + self.c_proj(self.gelu(self.c_fc(self.ln_2(x))))
        return x, present


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=1e-5)
        self.apply(self._init)
        for n, p in self.named_parameters():
            if n.endswith("c_proj.weight"):
                nn.init.normal_(p, 0.0, 0.02 / math.sqrt(2 * cfg["n_layer"]))

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def hidden(self, idx, past=None):
        start = 0 if past is None else past[0][0].size(2)
        pos = torch.arange(start, start + idx.size(1), dtype=torch.long).unsqueeze(0)
        x = self.wte(idx) + self.wpe(pos)
        presents = []
        for i, block in enumerate(self.h):
            x, present = block(x, None if past is None else past[i])
            presents.append(present)
        return self.ln_f(x), presents

    def forward(self, idx, past=None):
        x, presents = self.hidden(idx, past)
        return x @ self.wte.weight.t(), presents  # tied LM head

    @torch.no_grad()
    def generate(self, idx, new_tokens, temperature, gen):
        logits, past = self(idx)
        out = [idx]
        logits = logits[:, -1, :]
        for i in range(new_tokens):
            probs = F.softmax(logits / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1, generator=gen)
            out.append(nxt)
            if i + 1 < new_tokens:
                logits, past = self(nxt, past)
                logits = logits[:, -1, :]
        return torch.cat(out, dim=1)


class Discriminator(nn.Module):
    """GPT-2 body + scalar head on the last token's hidden state."""

    def __init__(self, cfg):
        super().__init__()
        self.body = GPT(cfg)
        self.head = nn.Linear(cfg["n_embd"], 1)

    def forward(self, idx):
        h, _ = self.body.hidden(idx)
        return self.head(h[:, -1, :]).squeeze(-1)


def best_of(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def matmul_sweep(shapes, seed):
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for s in shapes:
        m, k, n = s["m"], s["k"], s["n"]
        a = torch.randn(m, k, generator=gen)
        b = torch.randn(k, n, generator=gen)
        sec = best_of(lambda: torch.mm(a, b), 1, s["reps"])
        rows.append({"name": s["name"], "m": m, "k": k, "n": n, "gflops": 2.0 * m * k * n / sec / 1e9})
    return rows


def mle_step_fn(model, opt, batch, window, vocab, gen):
    def step():
        ids = torch.randint(0, vocab, (batch, window + 1), generator=gen)
        logits, _ = model(ids[:, :window])
        loss = F.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return step


def mle(spec, seed, warmup, reps):
    torch.manual_seed(seed)
    model = GPT(spec["model"])
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed + 1)
    b, w = spec["batch"], spec["window"]
    sec = best_of(mle_step_fn(model, opt, b, w, spec["model"]["vocab_size"], gen), warmup, reps)
    return {"tokens_per_s": b * w / sec, "step_ms": sec * 1e3}


def generation(spec, seed, warmup, reps):
    torch.manual_seed(seed)
    model = GPT(spec["model"]).eval()
    gen = torch.Generator().manual_seed(seed + 1)
    prompts = torch.randint(0, spec["model"]["vocab_size"], (spec["batch"], spec["prompt"]), generator=gen)
    n = spec["new_tokens"]
    sec = best_of(lambda: model.generate(prompts, n, 1.0, gen), warmup, reps)
    return {"new_tokens_per_s": spec["batch"] * n / sec, "ms": sec * 1e3}


def reinforce(spec, seed, warmup, reps):
    """One REINFORCE step: generate with the cache, score with the discriminator, policy-gradient update."""
    torch.manual_seed(seed)
    cfg = spec["model"]
    policy = GPT(cfg)
    disc = Discriminator(cfg).eval()
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-4, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed + 1)
    b, p, n, vocab = spec["batch"], spec["prompt"], spec["new_tokens"], cfg["vocab_size"]
    parts = {"generate": [], "score": [], "update": []}

    def step():
        prompts = torch.randint(0, vocab, (b, p), generator=gen)
        t0 = time.perf_counter()
        seq = policy.generate(prompts, n, 1.0, gen)
        t1 = time.perf_counter()
        with torch.no_grad():
            reward = torch.sigmoid(disc(seq))
            adv = (reward - reward.mean()) / (reward.std() + 1e-8)
        t2 = time.perf_counter()
        policy.train()
        logits, _ = policy(seq[:, :-1])
        logp = F.log_softmax(logits[:, p - 1:, :], dim=-1).gather(2, seq[:, p:].unsqueeze(2)).squeeze(2)
        loss = -(adv.unsqueeze(1) * logp).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        t3 = time.perf_counter()
        for k, v in zip(parts, (t1 - t0, t2 - t1, t3 - t2)):
            parts[k].append(v)

    sec = best_of(step, warmup, reps)
    best = min(range(len(parts["generate"])), key=lambda i: sum(parts[k][i] for k in parts))
    out = {"step_ms": sec * 1e3}
    out.update({k + "_ms": parts[k][best] * 1e3 for k in parts})
    return out


def blas_library():
    """The BLAS really loaded: Debian's torch calls whatever libblas.so.3 points to (reference BLAS unless OpenBLAS is installed)."""
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    with open("/proc/self/maps") as maps:
        libs = sorted({line.split()[-1] for line in maps if "blas" in line.split()[-1].lower()})
    return ", ".join(libs) or "unknown"


def main():
    spec = json.load(sys.stdin if sys.argv[1:] in ([], ["-"]) else open(sys.argv[1]))
    torch.set_num_threads(spec["threads"])
    seed, warmup, reps = spec["seed"], spec["warmup"], spec["reps"]
    sweep = matmul_sweep(spec["matmul_shapes"], seed)
    result = {
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas_library(),
        "matmul": sweep,
        "mle": {m["name"]: mle(m, seed, warmup, m.get("reps", reps)) for m in spec["mle"]},
        "generate": generation(spec["generate"], seed, warmup, spec["generate"].get("reps", reps)),
        "reinforce": reinforce(spec["reinforce"], seed, warmup, spec["reinforce"].get("reps", reps)),
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
