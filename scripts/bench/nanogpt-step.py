"""Training-step throughput of nanoGPT's model (karpathy/nanoGPT's model.py, from a local
checkout that is not part of crossover) on the CPU, as scripts/bench/compare-nanogpt.sh runs it beside
`crossover bench train`: the same shape, the same threads, AdamW as nanoGPT configures it.

usage: python3 nanogpt-step.py NANOGPT_DIR LAYERS D_MODEL HEADS VOCAB SEQ BATCH WARMUP STEPS THREADS
prints one JSON line: {"tok_per_s": ..., "step_seconds": ..., "params": ..., "loss": ...}"""
import json
import sys
import time

import torch

sys.path.insert(0, sys.argv[1])
from model import GPT, GPTConfig  # noqa: E402  (nanoGPT's model.py)

L, D, H, V, T, B, WARMUP, STEPS, THREADS = map(int, sys.argv[2:11])
torch.manual_seed(0)
torch.set_num_threads(THREADS)
model = GPT(GPTConfig(block_size=T, vocab_size=V, n_layer=L, n_head=H, n_embd=D, dropout=0.0,
                      bias=False))
opt = model.configure_optimizers(0.1, 1e-3, (0.9, 0.95), "cpu")
x = torch.randint(V, (B, T))
y = torch.randint(V, (B, T))
for i in range(WARMUP + STEPS):
    if i == WARMUP:
        t0 = time.perf_counter()
    _, loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
dt = time.perf_counter() - t0
print(json.dumps({"tok_per_s": B * T * STEPS / dt, "step_seconds": dt / STEPS,
                  "params": sum(p.numel() for p in model.parameters()), "loss": loss.item()}))
