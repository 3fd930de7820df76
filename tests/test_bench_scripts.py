"The GPU check (bench/gpu_check.py, bench/gpu_run.sh) runs here on the CPU with the tiny model, so it is known to work before a GPU runs it."
import json, os, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def test_gpu_run_script_parses():
    for script in ('bench/gpu_run.sh', 'bench/fetch_wheels.sh'):
        assert subprocess.run(['bash', '-n', script], cwd=ROOT).returncode == 0, script

def test_gpu_check_quick(tmp_path):
    "Every stage of bench/gpu_check.py on the tiny model: the checks pass, and each stage's JSON is written."
    env = dict(os.environ, HF_HUB_OFFLINE='1', PYTHONUNBUFFERED='1')
    p = subprocess.run([sys.executable, 'bench/gpu_check.py', '--out', str(tmp_path), '--quick'], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    report = json.loads((tmp_path/'gpu_check-cpu.json').read_text())
    assert list(report['stages']) == ['tiny', 'graph', 'bench-bf16', 'bench-nf4', 'targets'], report['stages']
    assert all(v.get('ok') for v in report['stages'].values()), report['stages']
    assert len(report['checks']) >= 8 and all(c['ok'] for c in report['checks']), report['checks']
    nf4 = json.loads((tmp_path/'tiny-nf4-cpu.json').read_text())
    assert nf4['quantization'] == '4bit' and [r['path'] for r in nf4['results']] == ['hf', 'fast']

def test_gpu_check_budget_skips_stages(tmp_path):
    "A budget too small for the benchmarks skips them, says why, and still writes the report."
    env = dict(os.environ, HF_HUB_OFFLINE='1')
    p = subprocess.run([sys.executable, 'bench/gpu_check.py', '--out', str(tmp_path), '--quick', '--budget-s', '60'], cwd=ROOT,
                       env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    stages = json.loads((tmp_path/'gpu_check-cpu.json').read_text())['stages']
    assert stages['tiny']['ok'] and 'budget' in stages['bench-bf16']['skipped'] and 'budget' in stages['bench-nf4']['skipped'], stages

def test_cli_timings_prints_the_readme_table():
    "bench/cli_timings.py, the source of the README's CPU timings, runs and prints every row."
    p = subprocess.run([sys.executable, 'bench/cli_timings.py', '--runs', '1', '--new-tokens', '8'], cwd=ROOT,
                       env=dict(os.environ, HF_HUB_OFFLINE='1'), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    assert '8 new tokens, 1 runs' in p.stdout and p.stdout.count('\n| ') >= 5 and 'decoding 8 tokens' in p.stdout, p.stdout

def test_readme_table_is_the_notebooks_kept_output():
    "bench/README.md's CPU table says what nbs/62_bench.ipynb's kept output says: decode tokens/s and the ratio to HF, per path and batch."
    import re
    nb = json.loads((ROOT/'nbs/62_bench.ipynb').read_text())
    text = next(''.join(o.get('text', '')) for c in nb['cells'] if c['cell_type'] == 'code' for o in c.get('outputs', []) if 'decode tok/s' in ''.join(o.get('text', '')))
    kept = [(m[1], int(m[2]), round(float(m[3])), m[4]) for m in re.finditer(r'^(hf|fast|fast-staggered) +(\d+) +\d+ +\S+ +\S+ +([\d.]+) +([\d.]+)$', text, re.M)]
    names = {'HF `generate`': 'hf', 'fast (eager step)': 'fast', 'fast, 2 staggered requests': 'fast-staggered'}
    readme = (ROOT/'bench/README.md').read_text()
    rows = [(names[m[1]], int(m[2]), int(m[3]), m[4]) for m in re.finditer(r'^\| (HF `generate`|fast \(eager step\)|fast, 2 staggered requests) \| (\d+) \| (\d+) \| ([\d.]+) \|$', readme, re.M)]
    assert len(kept) == 5 and rows == kept, (rows, kept)

def test_batch_throughput_measures_four_runs():
    "bench/batch_throughput.py, the source of bench/README's batch figures, runs all four ways — the last on Ray — and reports the overhead."
    p = subprocess.run([sys.executable, 'bench/batch_throughput.py', '--n', '6', '--new-tokens', '4', '--json'], cwd=ROOT,
                       env=dict(os.environ, HF_HUB_OFFLINE='1'), capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    r = json.loads(p.stdout)
    assert list(r['runs']) == ['loop (task run on the engine)', 'batch, 1 at once', 'batch, fast path (4 slots)', 'batch on Ray (2 actors, 1 at once each)'], r
    assert r['runs']['batch on Ray (2 actors, 1 at once each)']['workers'] == 2, r
    assert all(v['completion_tokens'] == 6 * 4 and v['items_s'] > 0 for v in r['runs'].values()) and r['overhead'] > 0, r
