#!/usr/bin/env python
"""Time how fast `qwen-vl` starts: `--help`, each command's `--help`, and `parse` of an OCR answer on stdin.

Each command runs `--runs` times in a fresh process (the installed console script, as a user runs it) and the median
wall clock is printed, with the heavy packages it imported (from one more run under `python -X importtime`). With
`--check` it exits 1 when `qwen-vl --help` or `qwen-vl parse --help` takes over 0.3 s, `qwen-vl parse` over 0.5 s, or
a command imports one of those packages. Python runs as the environment says; where it writes no bytecode
(`PYTHONDONTWRITEBYTECODE`), every run compiles the package's modules again — `--bytecode` times it as an installed
package runs, with a bytecode cache (kept in a temporary folder).

    python bench/cli_startup.py --runs 5 --check
"""
import argparse, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ('torch', 'transformers', 'gradio', 'fastapi', 'uvicorn', 'matplotlib')
ANSWER = '```json\n[{"bbox_2d": [10, 20, 200, 60], "text_content": "Hello"}, {"bbox_2d": [10, 80, 260, 120], "text_content": "world"}]\n```'
PARSE = ['parse', '--task', 'ocr', '--image-size', '1024x768']
COMMANDS = ['doctor', 'make-tiny', 'run', 'serve', 'bench', 'hash-key']
# what is shown: (arguments, stdin, wall-clock target in seconds or None)
CASES = {'--help': (['--help'], None, 0.3), 'parse --help': (['parse', '--help'], None, 0.3),
         'parse --task ocr --image-size 1024x768 < answer': (PARSE, ANSWER, 0.5),
         **{f'{c} --help': ([c, '--help'], None, None) for c in COMMANDS}}

def run(cmd:list, stdin:str|None, env:dict) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=env, cwd=ROOT)
    if p.returncode: sys.exit(f'{" ".join(cmd)} failed ({p.returncode}):\n{p.stderr[-2000:]}')
    return p

def wall(exe:str, args:list, stdin:str|None, env:dict) -> float:
    "Seconds one run of `qwen-vl ARGS` takes, start to exit."
    t0 = time.perf_counter(); run([exe, *args], stdin, env)
    return time.perf_counter() - t0

def heavy_imports(exe:str, args:list, stdin:str|None, env:dict) -> list[str]:
    "The packages of `HEAVY` that `qwen-vl ARGS` imports."
    err = run([sys.executable, '-X', 'importtime', exe, *args], stdin, env).stderr
    mods = {l.rsplit('|', 1)[1].strip().split('.')[0] for l in err.splitlines() if l.startswith('import time:')}
    return [m for m in HEAVY if m in mods]

def main():
    a = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument('--runs', type=int, default=5, help='runs of each command (the median is printed)')
    a.add_argument('--bytecode', action='store_true', help='with a bytecode cache, as an installed package runs')
    a.add_argument('--check', action='store_true', help='exit 1 if a target is missed')
    args = a.parse_args()
    exe = shutil.which('qwen-vl') or str(Path(sys.executable).parent/'qwen-vl')
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, HF_HUB_OFFLINE='1')
        if args.bytecode: env.pop('PYTHONDONTWRITEBYTECODE', None); env['PYTHONPYCACHEPREFIX'] = cache
        how = 'with a bytecode cache' if 'PYTHONDONTWRITEBYTECODE' not in env else 'no bytecode written (PYTHONDONTWRITEBYTECODE)'
        print(f'median of {args.runs} runs, a fresh process each, {how}\n\n| command | wall s | target | heavy imports |\n|---|---|---|---|')
        missed = []
        for name, (argv, stdin, target) in CASES.items():
            wall(exe, argv, stdin, env)  # warms the file cache (and the bytecode cache)
            med = statistics.median(wall(exe, argv, stdin, env) for _ in range(args.runs))
            heavy = heavy_imports(exe, argv, stdin, env)
            if (target and med > target) or heavy: missed.append(name)
            print(f"| `qwen-vl {name}` | {med:.2f} | {f'≤ {target}' if target else '—'} | {', '.join(heavy) or 'none'} |", flush=True)
    if missed: print(f'\nmissed: {"; ".join(missed)}')
    if args.check and missed: sys.exit(1)

if __name__ == '__main__': main()
