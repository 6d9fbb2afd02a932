# Reference numbers from Hugging Face transformers for the engine's GPT-2 tests.
import json, os, torch, transformers
from transformers import GPT2Config, GPT2LMHeadModel
out = os.environ["OUT"]
torch.manual_seed(1234)
cfg = GPT2Config(vocab_size=50, n_positions=32, n_embd=24, n_layer=2, n_head=3,
                 layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
m = GPT2LMHeadModel(cfg).eval()
with torch.no_grad():
    for n, p in m.named_parameters():
        if "ln" in n:  # non-trivial LayerNorm parameters so they are exercised
            p.copy_(torch.randn_like(p) * 0.3 + (1.0 if n.endswith("weight") else 0.0))
        elif n.endswith("wte.weight") or n.endswith("wpe.weight"):
            p.mul_(40.0)  # larger embeddings: logits far from uniform, so greedy decoding varies
        elif n.endswith("bias"):
            p.copy_(torch.randn_like(p) * 0.1)
d = os.path.join(out, "hf-tiny-gpt2"); cfg.bos_token_id = cfg.eos_token_id = None
m.save_pretrained(d, safe_serialization=True)
# The weights as text (file order, float32 round-trip digits); the tests rebuild model.safetensors from it.
import struct
raw = open(os.path.join(d, "model.safetensors"), "rb").read()
hdr = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]]); hdr.pop("__metadata__", None)
with open(os.path.join(d, "weights.json"), "w") as w:
    w.write("{\n" + ",\n".join(
        '  %s: {"shape": %s, "data": [%s]}' % (json.dumps(k), json.dumps(v["shape"]),
            ", ".join("%.9g" % x for x in m.state_dict()[k].flatten().tolist()))
        for k, v in sorted(hdr.items(), key=lambda kv: kv[1]["data_offsets"][0])) + "\n}\n")
os.remove(os.path.join(d, "model.safetensors"))
ids = torch.tensor([[3, 17, 42, 8, 0, 49, 25, 11, 30, 7]])
with torch.no_grad():
    logits = m(ids).logits[0].double()
    # left-padded batch: second row padded with 2 pad tokens, mask 0
    batch = torch.tensor([[3, 17, 42, 8, 0], [1, 1, 5, 9, 13]]); mask = torch.tensor([[1,1,1,1,1],[0,0,1,1,1]])
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    blog = m(batch, attention_mask=mask, position_ids=pos).logits.double()
    gen = m.generate(torch.tensor([[3, 17, 42]]), max_new_tokens=12, do_sample=False, pad_token_id=0, eos_token_id=None)
ref = {"transformers": transformers.__version__, "torch": torch.__version__,
       "input_ids": ids[0].tolist(), "logits": logits.tolist(),
       "batch_ids": batch.tolist(), "batch_mask": mask.tolist(), "batch_last_logits": blog[:, -1].tolist(),
       "greedy_prompt": [3, 17, 42], "greedy_tokens": gen[0, 3:].tolist()}
json.dump(ref, open(os.path.join(d, "reference.json"), "w"))
print(os.listdir(d), transformers.__version__, torch.__version__, gen.tolist())
