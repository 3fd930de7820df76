#!/usr/bin/env python
"""GPU check of the fast decode path: correctness under CUDA graphs, then the benchmarks and their targets, in one run.

Stages, most important first; each writes its results to `--out` as soon as it ends, so a call cut short still
brings back what it measured, and a stage that fails keeps its traceback and lets the next one run:

1. `tiny`: the tiny model in float32 on CUDA: the engine with `decode='fast'` (CUDA graphs) gives the same answers as
   with `decode='hf'` (`model.generate`) for an image, a text, a left-padded batch, a stream and a stop string; a
   request joining a running one (continuous batching, other graph buckets) gets its solo answer.
2. `graph`: random weights of the real 3B size in bf16: graph replay gives exactly the eager step's tokens; agreement
   with HF `generate` (bf16 kernels differ, so random weights' near-ties may flip late tokens) is reported.
3. `bench-bf16`: `qwen_vl.bench.run_bench` for 3B bf16: TTFT, decode tok/s, batches, staggered arrivals, peak memory.
4. `bench-nf4`: the same at batch 1 for 3B NF4, when bitsandbytes is importable.
5. `targets`: the fast path's targets, read from those reports (reported; only stages 1-2 decide the exit status).

    bash bench/gpu_run.sh                            # on a machine with a CUDA GPU (see bench/README.md)
    python bench/gpu_check.py --out /tmp/x --quick  # anywhere: CPU smoke run of the script itself (no graphs)
"""
import argparse, gc, importlib.util, json, os, sys, threading, time, traceback
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from PIL import Image, ImageDraw
from qwen_vl.config import load_settings
from qwen_vl.engine import UnifiedQwenInference
from qwen_vl.generation import generation_options
from qwen_vl.fastpath import FastDecoder
from qwen_vl.inputs import chat_messages
from qwen_vl.bench import format_table, random_model, run_bench

def check(name, ok, **info):
    print(('PASS ' if ok else 'FAIL ') + name, json.dumps(info, default=str)[:400], flush=True)
    return dict(name=name, ok=bool(ok), **info)

def picture(size=(448, 336)):
    "A synthetic picture, so the check needs no files beyond the code."
    img = Image.new('RGB', size, 'white'); d = ImageDraw.Draw(img)
    for i in range(6): d.rectangle([20 + 60 * i, 40 + 20 * i, 70 + 60 * i, 120 + 25 * i], fill=(40 * i, 255 - 40 * i, 128))
    d.text((20, 10), 'qwen-vl gpu check', fill='black')
    return img

def tiny_identity(device):
    "Engine answers on the fast path equal generate's."
    kw = dict(model='tiny', device_map=device, dtype='float32')
    hf, fast = (UnifiedQwenInference(load_settings(decode=d, **kw)) for d in ('hf', 'fast'))
    image, story = chat_messages('Describe this image.', images=[picture()]), chat_messages('Hi! Tell me a story.')
    out = []
    for name, conv in (('image', image), ('text', story)):
        a, b = hf.generate(conv, max_new_tokens=64), fast.generate(conv, max_new_tokens=64)
        out.append(check(f'tiny {name}: fast == generate', a.token_ids == b.token_ids, path=b.decode_path, tokens=b.completion_tokens))
    a, b = hf.generate_batch([image, story], max_new_tokens=48), fast.generate_batch([image, story], max_new_tokens=48)
    out.append(check('tiny batch: fast == generate', [r.token_ids for r in a] == [r.token_ids for r in b]))
    s = fast.stream(image, max_new_tokens=48, min_new_tokens=48); pieces = list(s)
    out.append(check('tiny stream joins to the answer', ''.join(pieces) == s.result.text == hf.generate(image, max_new_tokens=48, min_new_tokens=48).text, pieces=len(pieces)))
    stop = s.result.text[10:14]
    a, b = hf.generate(image, max_new_tokens=48, stop=[stop]), fast.generate(image, max_new_tokens=48, stop=[stop])
    out.append(check('tiny stop string', a.text == b.text and b.finish_reason == 'stop'))
    fd, joined = fast.fast, {}
    solo_long, solo_short = (fast.generate(c, max_new_tokens=n, min_new_tokens=n).token_ids for c, n in ((image, 1500), (story, 20)))
    fd.stats['most_active'] = 0
    t = threading.Thread(target=lambda: joined.update(long=fast.generate(image, max_new_tokens=1500, min_new_tokens=1500)))
    t.start()
    while t.is_alive() and (fd.stats['steps'] == 0 or not fd.jobs): time.sleep(0.001)
    short = fast.generate(story, max_new_tokens=20, min_new_tokens=20); t.join()
    out.append(check('tiny continuous batching: a request that joins a running one gets its solo answer, and so does the other',
                     (joined['long'].token_ids, short.token_ids) == (solo_long, solo_short), most_active=fd.stats['most_active'], captures=fd.stats['captures']))
    out.append(check('tiny path label', fast.decode_path == ('fast-cuda-graph' if device.startswith('cuda') else 'fast'), path=fast.decode_path))
    return out

def graph_vs_eager(engine, image_size, n):
    "Graph replay == eager step on a model of the real size; agreement with generate."
    lm, size = engine.loaded, engine.info['model']
    conv = chat_messages('Describe this image in detail.', images=[Image.effect_noise(image_size, 64).convert('RGB')])
    inputs, _ = engine.prepare([conv])
    o = generation_options(max_new_tokens=n, min_new_tokens=n, repetition_penalty=1.05)
    eager = FastDecoder(lm.model, engine.tokenizer, engine.eos_ids, engine.pad_id, slots=1, cuda_graphs=False).generate(inputs, o, n)[0]
    g = FastDecoder(lm.model, engine.tokenizer, engine.eos_ids, engine.pad_id, slots=1, cuda_graphs=True)
    graph = g.generate(inputs, o, n)[0]
    ref = engine.model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, repetition_penalty=1.05,
                                pad_token_id=engine.pad_id)[0, inputs['input_ids'].shape[1]:].tolist()
    same = next((i for i, (a, b) in enumerate(zip(ref, graph)) if a != b), len(graph))
    return [check(f'{size} graph replay == eager step', graph == eager, path=g.path, captures=g.stats['captures'], tokens=len(graph)),
            check(f'{size} agreement with generate (info)', True, first_difference=same, of=len(graph))]

def row(report, path, batch):
    return next((r for r in report['results'] if r['path'].startswith(path) and r['batch'] == batch and 'staggered' not in r['path']), None)

def targets(bf16, nf4):
    "The fast path's targets, from the bench reports (missing reports give no checks)."
    out = []
    if bf16:
        hf1, f1 = row(bf16, 'hf', 1), row(bf16, 'fast', 1)
        out.append(check('target: 3B bf16 batch 1 >= 15x generate', f1['speedup_vs_hf'] >= 15, speedup=f1['speedup_vs_hf'], tok_s=f1['decode_tok_s']))
        w, h = bf16['image_size']
        out.append(check(f"target: {f1['new_tokens']} tokens + {w}x{h} image < 3 s (target: 512, 1280x960)", f1['e2e_s'] < 3, e2e_s=f1['e2e_s']))
        out.append(check('target: TTFT no worse than generate', f1['ttft_s'] <= hf1['ttft_s'] * 1.05, fast=f1['ttft_s'], hf=hf1['ttft_s']))
        f8, stag = row(bf16, 'fast', 8), next((r for r in bf16['results'] if r['path'].endswith('staggered')), None)
        if f8: out.append(check('target: batch 8 >= 1200 tok/s', f8['decode_tok_s'] >= 1200, tok_s=f8['decode_tok_s']))
        if stag: out.append(check('target: staggered >= 80% of batched', stag['vs_batched'] >= 0.8, vs_batched=stag['vs_batched'], most_active=stag['most_active']))
    if nf4:
        f1 = row(nf4, 'fast', 1)
        out.append(check('target: 3B NF4 batch 1 >= 7x generate', f1['speedup_vs_hf'] >= 7, speedup=f1['speedup_vs_hf'], tok_s=f1['decode_tok_s']))
        out.append(check('target: 3B NF4 peak <= 3 GiB', f1['peak_gpu_gib'] is not None and f1['peak_gpu_gib'] <= 3, peak_gib=f1['peak_gpu_gib']))
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True); p.add_argument('--quick', action='store_true', help='tiny sizes (CPU smoke run)')
    p.add_argument('--size', default='3B'); p.add_argument('--new-tokens', type=int, default=512); p.add_argument('--batches', default='1,8')
    p.add_argument('--image', default='1280x960', help='synthetic image size WxH (the targets are for 1280x960)')
    p.add_argument('--budget-s', type=float, default=520, help='skip a stage that would likely end after this many seconds')
    a = p.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    card = torch.cuda.get_device_name(0).replace(' ', '-') if device == 'cuda' else 'cpu'
    size, image = ('tiny', (224, 224)) if a.quick else (a.size, tuple(int(v) for v in a.image.lower().split('x')))
    n, batches = (16, (1, 2)) if a.quick else (a.new_tokens, tuple(int(b) for b in a.batches.split(',')))
    t0, result = time.time(), dict(device=card, torch=torch.__version__, stages={}, checks=[])
    import transformers; result['transformers'] = transformers.__version__
    reports, state = {}, {}

    def save():
        result['seconds'] = round(time.time() - t0, 1)
        (out / f'gpu_check-{card}.json').write_text(json.dumps(result, indent=2, default=str))

    def engine_of(quantization):
        state.pop('engine', None); gc.collect()
        if torch.cuda.is_available(): torch.cuda.empty_cache()
        lm = None if a.quick else random_model(size, device, quantization)
        e = UnifiedQwenInference(load_settings(model='tiny' if a.quick else f'random-{size}', device_map=device, quantization=quantization), loaded=lm)
        state['engine'] = e
        return e

    def bench(quantization, bs):
        e = state['engine'] if quantization == 'none' and 'engine' in state else engine_of(quantization)
        r = run_bench(e, n, bs, image); print(format_table(r), flush=True)
        name = f"{size}-{'bf16' if quantization == 'none' else 'nf4'}-{card}.json"
        (out / name).write_text(json.dumps(r, indent=2)); reports[quantization] = r
        return []

    stages = [('tiny', 20, lambda: tiny_identity(device)),
              ('graph', 90, lambda: graph_vs_eager(engine_of('none'), image, min(n, 256))),
              ('bench-bf16', 200, lambda: bench('none', batches)),
              ('bench-nf4', 120, lambda: bench('4bit', (1,)) if importlib.util.find_spec('bitsandbytes') else []),
              ('targets', 0, lambda: targets(reports.get('none'), reports.get('4bit')) if not a.quick else [])]
    for name, estimate, run in stages:
        started = time.time()
        if started - t0 + estimate > a.budget_s:
            result['stages'][name] = dict(skipped=f'budget: {started - t0:.0f} s used, about {estimate} s needed'); save(); continue
        print(f'--- {name} ({started - t0:.0f} s)', flush=True)
        try: checks, info = run(), dict(ok=True)
        except Exception as e:
            traceback.print_exc(); checks, info = [], dict(ok=False, error=f'{type(e).__name__}: {e}', traceback=traceback.format_exc()[-3000:])
        info['seconds'] = round(time.time() - started, 1)
        if torch.cuda.is_available(): info['peak_gpu_gib'] = round(torch.cuda.max_memory_allocated() / 1024**3, 2)
        result['stages'][name] = info; result['checks'] += checks; save()
    failed = [c['name'] for c in result['checks'] if not c['ok'] and not c['name'].startswith('target')]
    failed += [f'stage {k}' for k, v in result['stages'].items() if v.get('ok') is False and k in ('tiny', 'graph')]
    missed = [c['name'] for c in result['checks'] if not c['ok'] and c['name'].startswith('target')]
    print('FAILED: ' + ', '.join(failed) if failed else 'all correctness checks passed', flush=True)
    if missed: print('targets missed: ' + ', '.join(missed), flush=True)
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
