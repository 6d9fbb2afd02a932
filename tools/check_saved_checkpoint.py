# Checks that a model directory written by RlGaf opens in Hugging Face transformers and gives the
# same log-probabilities as RlGaf's own `sample --json` output (tools/check-input/sample.json).
import json, os, sys, torch
from transformers import GPT2LMHeadModel
d = sys.argv[1]
model = GPT2LMHeadModel.from_pretrained(d).eval()
vocab = json.load(open(os.path.join(d, "rlgaf-vocab.json")))["gpt2_ids"]
to_model = {g: i for i, g in enumerate(vocab)}
eot = to_model[50256]
worst = 0.0
for line in open(sys.argv[2]):
    s = json.loads(line)
    prompt = [eot] + [to_model[g] for g in s["prompt_ids"]]
    completion = [to_model[g] for g in s["completion_ids"]]
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logp = model(ids).logits[0].double().log_softmax(-1)
    hf = [logp[len(prompt) - 1 + i, t].item() for i, t in enumerate(completion)]
    ours = s["token_logprobs"]
    diff = max(abs(a - b) for a, b in zip(hf, ours))
    greedy_ok = all(logp[len(prompt) - 1 + i].argmax().item() == t for i, t in enumerate(completion))
    worst = max(worst, diff)
    print(f"{s['completion']!r}: max |logprob diff| = {diff:.2e}, greedy tokens equal: {greedy_ok}")
print(f"transformers {__import__('transformers').__version__}: worst difference {worst:.2e}")
sys.exit(0 if worst < 1e-4 else 1)
