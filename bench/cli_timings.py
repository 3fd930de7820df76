#!/usr/bin/env python
"""Time the README's first command, `qwen-vl run --model tiny --image cakes.png --prompt ... --json`, as a user runs it.

Prints the README's table: wall clock of the whole command, and from its JSON the preprocessing, time to first token
and decoding times, over `--runs` runs after a warm-up run (which builds the tiny checkpoint if needed).

    HF_HUB_OFFLINE=1 python bench/cli_timings.py --runs 3
"""
import argparse, json, os, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAKES = 'reference/qwen25vl-cookbooks/assets/spatial_understanding/cakes.png'

def run_once(exe:str, new_tokens:int) -> dict:
    t0 = time.perf_counter()
    p = subprocess.run([exe, 'run', '--model', 'tiny', '--image', CAKES, '--prompt', 'Describe this image.', '--json',
                        '--max-new-tokens', str(new_tokens), '--min-new-tokens', str(new_tokens)],
                       cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, HF_HUB_OFFLINE='1'))
    wall = time.perf_counter() - t0
    if p.returncode: sys.exit(p.stderr[-2000:])
    r = json.loads(p.stdout)
    return dict(wall_s=wall, **r['timings'], completion_tokens=r['completion_tokens'], prompt_tokens=r['prompt_tokens'])

def span(xs, fmt='{:.2f}'): return fmt.format(min(xs)) if len(xs) == 1 else f'{fmt.format(min(xs))} – {fmt.format(max(xs))}'

def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument('--runs', type=int, default=3); a.add_argument('--new-tokens', type=int, default=512)
    args = a.parse_args()
    exe = shutil.which('qwen-vl') or str(Path(sys.executable).parent/'qwen-vl')
    run_once(exe, 8)  # builds the tiny checkpoint if it isn't cached yet, and warms the file cache
    runs = [run_once(exe, args.new_tokens) for _ in range(args.runs)]
    col = lambda k: [r[k] for r in runs]
    rest = [r['wall_s'] - r['total_s'] for r in runs]
    rate = [r['completion_tokens'] / r['decode_s'] for r in runs]
    print(f"{runs[0]['prompt_tokens']} prompt tokens, {runs[0]['completion_tokens']} new tokens, {args.runs} runs")
    print('| | seconds |\n|---|---|')
    print(f"| whole command, wall clock | {span(col('wall_s'), '{:.1f}')} |")
    print(f"| of which Python start, imports and model load | {span(rest, '{:.1f}')} |")
    print(f"| preprocessing (template, image resize, processor) | {span(col('preprocess_s'))} |")
    print(f"| time to first token (vision tower + prefill) | {span(col('ttft_s'))} |")
    print(f"| decoding {args.new_tokens} tokens | {span(col('decode_s'))} (≈ {span(rate, '{:.0f}')} tokens/s) |")

if __name__ == '__main__': main()
