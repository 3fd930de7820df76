#!/usr/bin/env python
"""Throughput of `qwen-vl batch` on the synthetic shapes set, and its overhead over calling the engine in a loop.

One run, the tiny model on this machine, the same records every time (`make_dataset('shapes', N, seed=0)`), the result
cache off so every item really generates:

- **loop**: the spatial task's `run` on the engine, one record after another, nothing else — the baseline;
- **batch, 1 at once**: `qwen_vl.batch.batch` through the service with `QWEN_CONCURRENCY=1` (the `generate` path);
- **batch, fast path**: the same with the fast decode path, `--slots` sequences decoded together;
- **batch on Ray**: `qwen_vl.scale.batch_ray` on a local Ray, `--actors` actors (one CPU each), each with its own
  service of the first run's settings; its time counts from the pipeline's start, the actors' model loads included.

It prints items/s and generated tokens/s for each, and the batch's overhead over the loop (wall time ÷ the loop's; the
target is ≤ 1.1×). `--check` exits 1 when the overhead is over 1.1. `--json` prints the figures as JSON.

    python bench/batch_throughput.py --n 200
"""
import argparse, json, sys, tempfile, time
from pathlib import Path
from qwen_vl.batch import batch
from qwen_vl.config import load_settings
from qwen_vl.datasets import read_dataset
from qwen_vl.scale import batch_ray
from qwen_vl.service import InferenceService
from qwen_vl.synthetic import make_dataset
from qwen_vl.tasks.base import get_task

def loop(data, engine, options:dict) -> dict:
    "The baseline: the task's `run` on the engine, record after record."
    h, t0, tokens = get_task('spatial'), time.perf_counter(), 0
    for rec in data:
        images, _ = data.media(rec)
        r = h.run(engine, images=images, mode=rec.mode, options=options, **rec.fields)
        tokens += r.inference['completion_tokens'] if r.inference else 0
    return dict(seconds=time.perf_counter() - t0, completion_tokens=tokens)

def batched(data, settings, options:dict, out:Path, engine=None) -> dict:
    "A batch run of `data` through a service with `settings`; its summary's figures."
    svc = InferenceService(settings, engine=engine).start(background=False)
    s = batch(data, svc, out, task='spatial', options=options, progress=False)
    assert s.done == len(data) and not s.failed, s
    return dict(seconds=s.seconds, completion_tokens=s.completion_tokens, workers=s.workers, p50_s=s.p50_s, p95_s=s.p95_s)

def on_ray(data, settings, options:dict, out:Path, actors:int) -> dict:
    "A `batch_ray` run of `data` on `actors` actors of a local Ray, each a service with `settings`; its summary's figures."
    s = batch_ray(data, settings, out, task='spatial', options=options, actors=actors, progress=False)
    assert s.done == len(data) and not s.failed, s
    return dict(seconds=s.seconds, completion_tokens=s.completion_tokens, workers=s.workers, p50_s=s.p50_s, p95_s=s.p95_s)

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--n', type=int, default=200, help='records (default 200)')
    ap.add_argument('--new-tokens', type=int, default=16, help='tokens generated per item, exactly')
    ap.add_argument('--max-pixels', type=int, default=256 * 28 * 28, help='pixel budget per image (default 256 tokens)')
    ap.add_argument('--slots', type=int, default=4, help='sequences the fast path decodes together')
    ap.add_argument('--actors', type=int, default=2, help='Ray actors of the Ray run (default 2)')
    ap.add_argument('--check', action='store_true', help='exit 1 if the batch overhead is over 1.1x')
    ap.add_argument('--json', action='store_true', help='print the figures as JSON')
    a = ap.parse_args(argv)
    opts = dict(max_new_tokens=a.new_tokens, min_new_tokens=a.new_tokens)
    with tempfile.TemporaryDirectory() as d:
        data = read_dataset(make_dataset('shapes', a.n, 0, d))
        base = dict(model='tiny', cache_size=0, max_pixels=a.max_pixels, log_level='WARNING')
        one = load_settings(env={}, **base, decode='hf', concurrency=1)
        svc = InferenceService(one).start(background=False)
        rows = {'loop (task run on the engine)': loop(data, svc.engine, opts)}
        rows['batch, 1 at once'] = batched(data, one, opts, Path(d)/'one.jsonl', engine=svc.engine)
        fast = load_settings(env={}, **base, decode='fast', decode_slots=a.slots)
        rows[f'batch, fast path ({a.slots} slots)'] = batched(data, fast, opts, Path(d)/'fast.jsonl')
        rows[f'batch on Ray ({a.actors} actors, 1 at once each)'] = on_ray(data, one, opts, Path(d)/'ray.jsonl', a.actors)
    for r in rows.values(): r.update(items_s=round(a.n / r['seconds'], 2), tokens_s=round(r['completion_tokens'] / r['seconds'], 1))
    overhead = rows['batch, 1 at once']['seconds'] / rows['loop (task run on the engine)']['seconds']
    if a.json: print(json.dumps(dict(n=a.n, new_tokens=a.new_tokens, max_pixels=a.max_pixels, runs=rows, overhead=round(overhead, 3)), indent=1))
    else:
        print(f'{a.n} shapes images, tiny model, {a.new_tokens} tokens each, max_pixels {a.max_pixels}\n')
        print('| run | items/s | tokens/s | seconds |\n|---|---|---|---|')
        for k, r in rows.items(): print(f"| {k} | {r['items_s']} | {r['tokens_s']} | {r['seconds']:.1f} |")
        print(f'\nbatch overhead over the loop: {overhead:.3f}x (target <= 1.1x)')
    return 1 if a.check and overhead > 1.1 else 0

if __name__ == '__main__': sys.exit(main())
