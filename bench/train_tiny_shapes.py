"""Train the tiny Qwen2.5-VL of the true architecture on synthetic shapes with `qwen_vl.finetune`, on the CPU, and print
the held-out scores as it goes (the curve is saved as OUT/run/training.png).

    python bench/train_tiny_shapes.py --out build/tiny-shapes --steps 4000
"""
import argparse, json, time
from pathlib import Path

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument('--out', default='build/tiny-shapes', help='the folder: base/, data-train/, data-held/, run/')
p.add_argument('--kind', default='shapes', help='the synthetic kind to train and score on')
p.add_argument('--n', type=int, default=4000, help='training records'); p.add_argument('--held', type=int, default=100, help='held-out records')
p.add_argument('--steps', type=int, default=4000); p.add_argument('--batch', type=int, default=16); p.add_argument('--lr', type=float, default=1e-3)
p.add_argument('--hidden', type=int, default=128); p.add_argument('--layers', type=int, default=4)
p.add_argument('--vision-depth', type=int, default=4); p.add_argument('--vision-hidden', type=int, default=64); p.add_argument('--vision-heads', type=int, default=4)
p.add_argument('--rope-theta', type=float, default=10.0, help="the language model's rotary base (Qwen2.5-VL's is 1e6: too coarse for a toy grid)")
p.add_argument('--max-tokens', type=int, default=64, help='the most image tokens: max_pixels = this × 28 × 28')
p.add_argument('--eval-every', type=int, default=1000); p.add_argument('--minutes', type=float, default=0, help='stop after this long (0: no limit)')
p.add_argument('--threads', type=int, default=0, help='torch threads (0: its default)'); p.add_argument('--seed', type=int, default=0)
a = p.parse_args()

import torch
if a.threads: torch.set_num_threads(a.threads)
from transformers import TrainerCallback
from qwen_vl import finetune as ft
from qwen_vl.config import load_settings
from qwen_vl.synthetic import make_dataset
from qwen_vl.tiny import make_tiny

class Deadline(TrainerCallback):
    "Stops training once `minutes` have passed (the held-out records are still scored at the end)."
    def __init__(self, minutes): self.end = time.time() + minutes * 60
    def on_step_end(self, args, state, control, **kw):
        if time.time() > self.end: control.should_training_stop = True

out = Path(a.out); out.mkdir(parents=True, exist_ok=True); t0 = time.time()
base = make_tiny(out/'base', seed=a.seed, hidden=a.hidden, layers=a.layers, vision_depth=a.vision_depth, init_std=0.02,
                 rope_theta=a.rope_theta, vision_hidden=a.vision_hidden, vision_heads=a.vision_heads)
train, held = make_dataset(a.kind, a.n, 0, out/'data-train'), make_dataset(a.kind, a.held, 1, out/'data-held')
print(f'data and base ready in {time.time() - t0:.0f}s', flush=True)
s = load_settings(model=str(base), max_pixels=a.max_tokens * 28 * 28, max_new_tokens=64)
c = ft.FinetuneConfig(method='full', train=('lm', 'merger', 'vision'), learning_rate=a.lr, max_steps=a.steps, batch_size=a.batch,
                      warmup_ratio=0.02, eval_every=a.eval_every, eval_limit=a.held, save_every=a.eval_every, logging_steps=50, seed=a.seed, cache_examples=True)
make = ft.make_trainer
ft.make_trainer = lambda *args, **kw: (t := make(*args, **kw), a.minutes and t.add_callback(Deadline(a.minutes)), t)[-1]
t1 = time.time()
r = ft.finetune(train, str(base), out/'run', c, eval_data=held, settings=s, overwrite=True, progress=False)
loss = [h['loss'] for h in r.history if 'loss' in h]
print(json.dumps({'train_minutes': round((time.time() - t1) / 60, 1), 'steps': r.history[-1].get('step'), 'examples': r.examples,
                  'loss': [loss[0], loss[-1]] if loss else None, 'scores': r.scores}, indent=1), flush=True)
