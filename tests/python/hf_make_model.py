"""Makes a tiny random Llama or Qwen3 model with transformers itself, for `crossover import hf`
(tests/hf/test_hf_import.cpp).

The model comes from the config classes and is saved with save_pretrained (sharded when
--max-shard-size is given). Every parameter is random, the norm gains included (1 + noise), so a
swapped or misnamed tensor changes the logits. REF (safetensors) receives random ids and the
model's logits for them: causal, and bidirectional through a 4-D attention mask of zeros. Prints `RESULT {json}`.
"""

import argparse
import json
import os
import sys

try:
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen3Config
except ImportError as e:
    print(f"missing Python package ({e}): run scripts/setup/install.sh")
    sys.exit(2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out_dir")
    p.add_argument("--arch", choices=["llama", "qwen3"], required=True)
    p.add_argument("--vocab", type=int, required=True, help="rows of the embedding")
    p.add_argument("--hidden", type=int, default=32)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=2)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--ffn", type=int, default=128)
    p.add_argument("--eps", type=float, default=1e-6)
    p.add_argument("--theta", type=float, default=10000.0)
    p.add_argument("--tied", action="store_true")
    p.add_argument("--max-shard-size", default=None)
    p.add_argument("--ref", required=True)
    p.add_argument("--seq", type=int, default=24)
    p.add_argument("--ids-below", type=int, help="draw ids from [0, this) (default: --vocab)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()

    common = dict(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn,
                  num_hidden_layers=a.layers, num_attention_heads=a.heads,
                  num_key_value_heads=a.kv_heads, head_dim=a.hidden // a.heads,
                  max_position_embeddings=256, rms_norm_eps=a.eps, rope_theta=a.theta,
                  tie_word_embeddings=a.tied, bos_token_id=2, eos_token_id=3, pad_token_id=0)
    config = LlamaConfig(**common) if a.arch == "llama" else Qwen3Config(**common)
    torch.manual_seed(a.seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.copy_(1.0 + 0.2 * torch.randn_like(param))
            else:
                param.normal_(0.0, 0.1)
    model.eval()
    kwargs = {"max_shard_size": a.max_shard_size} if a.max_shard_size else {}
    model.save_pretrained(a.out_dir, safe_serialization=True, **kwargs)

    g = torch.Generator().manual_seed(a.seed + 1)
    ids = torch.randint(0, a.ids_below or a.vocab, (2, a.seq), generator=g)
    B, T = ids.shape
    with torch.no_grad():
        causal = model(input_ids=ids).logits
        full = model(input_ids=ids, attention_mask=torch.zeros(B, 1, T, T)).logits
    save_file({"ids": ids.contiguous(), "logits_causal": causal.contiguous(),
               "logits_bidirectional": full.contiguous()}, a.ref)
    files = sorted(f for f in os.listdir(a.out_dir) if f.endswith(".safetensors"))
    print("RESULT " + json.dumps({"class": type(model).__name__, "files": files,
                                  "params": sum(t.numel() for t in model.parameters())}))


if __name__ == "__main__":
    main()
