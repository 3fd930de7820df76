#!/usr/bin/env python
"""GPU check of the fast decode path (issue #6), made to run in one call on a lent GPU machine.

1. The tiny model in float32 on CUDA: the engine with `decode='fast'` (CUDA graphs) gives the same answers as with
   `decode='hf'` (`model.generate`) for an image, a text, a left-padded batch, a stream and a stop string.
2. Random weights of the real 3B size in bf16: graph replay gives exactly the eager step's tokens; agreement with HF
   `generate` (bf16 kernels differ, so random weights' near-ties may flip late tokens) is reported.
3. `qwen_vl.bench.run_bench` for 3B bf16 (and NF4 when bitsandbytes is importable): TTFT, decode tok/s, batches,
   staggered arrivals, peak memory, written as JSON next to the checks.

    python bench/gpu_check.py --out $OUT            # on the GPU machine (see bench/README.md for the wheels to carry)
    python bench/gpu_check.py --out /tmp/x --quick  # anywhere: CPU smoke run of the script itself (no graphs)
"""
import argparse, json, os, sys, time
from pathlib import Path
os.environ.setdefault('HF_HUB_OFFLINE', '1')
import torch
from qwen_vl.config import find_shared, load_settings
from qwen_vl.engine import UnifiedQwenInference, generation_options
from qwen_vl.fastpath import FastDecoder
from qwen_vl.inputs import chat_messages
from qwen_vl.bench import format_table, random_model, run_bench
from PIL import Image

def check(name, ok, **info):
    print(('PASS ' if ok else 'FAIL ') + name, json.dumps(info, default=str)[:400], flush=True)
    return dict(name=name, ok=bool(ok), **info)

def tiny_identity(device, cakes):
    "Engine answers on the fast path equal generate's."
    kw = dict(model='tiny', device_map=device, dtype='float32')
    hf, fast = (UnifiedQwenInference(load_settings(decode=d, **kw)) for d in ('hf', 'fast'))
    image, story = chat_messages('Describe this image.', images=[cakes]), chat_messages('Hi! Tell me a story.')
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
    out.append(check('tiny path label', fast.decode_path == ('fast-cuda-graph' if device.startswith('cuda') else 'fast'), path=fast.decode_path))
    return out

def graph_vs_eager(size, device, image_size, n):
    "Graph replay == eager step on a random model of the real size; agreement with generate."
    lm = random_model(size, device)
    engine = UnifiedQwenInference(load_settings(model=f'random-{size}', device_map=device), loaded=lm)
    conv = chat_messages('Describe this image in detail.', images=[Image.effect_noise(image_size, 64).convert('RGB')])
    inputs, _ = engine.prepare([conv])
    o = generation_options(max_new_tokens=n, min_new_tokens=n, repetition_penalty=1.05)
    eager = FastDecoder(lm.model, engine.tokenizer, engine.eos_ids, engine.pad_id, slots=1, cuda_graphs=False).generate(inputs, o, n)[0]
    g = FastDecoder(lm.model, engine.tokenizer, engine.eos_ids, engine.pad_id, slots=1, cuda_graphs=True)
    graph = g.generate(inputs, o, n)[0]
    ref = engine.model.generate(**inputs, max_new_tokens=n, min_new_tokens=n, do_sample=False, repetition_penalty=1.05,
                                pad_token_id=engine.pad_id)[0, inputs['input_ids'].shape[1]:].tolist()
    same = next((i for i, (a, b) in enumerate(zip(ref, graph)) if a != b), len(graph))
    return engine, [check(f'{size} graph replay == eager step', graph == eager, path=g.path, captures=g.stats['captures'], tokens=len(graph)),
                    check(f'{size} agreement with generate (info)', True, first_difference=same, of=len(graph))]

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', required=True); p.add_argument('--quick', action='store_true', help='small sizes (CPU smoke run)')
    p.add_argument('--size', default='3B'); p.add_argument('--new-tokens', type=int, default=512); p.add_argument('--batches', default='1,8')
    a = p.parse_args()
    out = Path(a.out); out.mkdir(parents=True, exist_ok=True)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    card = torch.cuda.get_device_name(0).replace(' ', '-') if device == 'cuda' else 'cpu'
    cakes = str(find_shared() / 'assets/spatial_understanding/cakes.png')
    t0, checks = time.time(), tiny_identity(device, cakes)
    if a.quick:
        engine = UnifiedQwenInference(load_settings(model='tiny', device_map=device))
        report = run_bench(engine, 16, (1, 2), (224, 224))
    else:
        engine, more = graph_vs_eager(a.size, device, (1280, 960), 256); checks += more
        report = run_bench(engine, a.new_tokens, tuple(int(b) for b in a.batches.split(',')), (1280, 960))
    print(format_table(report), flush=True)
    (out / f'{a.size if not a.quick else "tiny"}-bf16-{card}.json').write_text(json.dumps(report, indent=2))
    (out / f'gpu_check-{card}.json').write_text(json.dumps(dict(device=card, torch=torch.__version__, seconds=round(time.time() - t0, 1), checks=checks), indent=2))
    failed = [c['name'] for c in checks if not c['ok']]
    print('FAILED: ' + ', '.join(failed) if failed else 'all checks passed', flush=True)
    return 1 if failed else 0

if __name__ == '__main__': sys.exit(main())
