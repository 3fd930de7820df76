"The installed `qwen-vl` console script, run as a user runs it."
import json, os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CAKES = ROOT/'reference/qwen25vl-cookbooks/assets/spatial_understanding/cakes.png'
EXE = shutil.which('qwen-vl') or str(Path(sys.executable).parent/'qwen-vl')

def qwen_vl(*args, env=None):
    e = dict(os.environ, HF_HUB_OFFLINE='1', **(env or {}))
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=e, timeout=600)

def test_run_json_reports_sizes():
    p = qwen_vl('run', '--model', 'tiny', '--image', str(CAKES), '--prompt', 'Describe this image.', '--json', '--max-new-tokens', '32')
    assert p.returncode == 0, p.stderr
    res = json.loads(p.stdout)
    (img,) = res['visuals']
    assert img['original_size'] == [1024, 1024]
    assert all(x % 28 == 0 for x in img['input_size'])
    assert res['text'] and 0 < res['completion_tokens'] <= 32 and res['prompt_tokens'] > 1000
    assert set(res['timings']) >= {'preprocess_s', 'ttft_s', 'decode_s', 'total_s'}

def test_run_stream_arrives_in_pieces():
    p = subprocess.Popen([EXE, 'run', '--model', 'tiny', '--image', str(CAKES), '--prompt', 'Describe this image.', '--stream',
                          '--json', '--max-new-tokens', '24', '--min-new-tokens', '24'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, HF_HUB_OFFLINE='1'))
    lines = [json.loads(l) for l in p.stdout]
    assert p.wait(timeout=600) == 0, p.stderr.read()
    deltas = [l['delta'] for l in lines if 'delta' in l]
    assert len(deltas) > 1 and ''.join(deltas) == lines[-1]['text']

def test_offline_hub_id_fails_fast_and_clearly():
    p = qwen_vl('run', '--model', 'Qwen/Qwen2.5-VL-3B-Instruct', '--prompt', 'hi', env={'QWEN_VL_CACHE': '/tmp/qwen-vl-empty-cache'})
    assert p.returncode == 2
    assert 'HF_HUB_OFFLINE' in p.stderr and '--model tiny' in p.stderr and 'Traceback' not in p.stderr

def test_bad_setting_in_environment():
    p = qwen_vl('doctor', env={'QWEN_QUANTIZATION': '2bit'})
    assert p.returncode == 2 and "QWEN_QUANTIZATION) = '2bit'" in p.stderr and "'4bit'" in p.stderr

def test_parse_answer_from_stdin_and_draw(tmp_path):
    answer = json.loads((ROOT/'reference/qwen25vl-cookbooks/outputs.json').read_text())[21]['output']
    out = tmp_path/'boxes.png'
    p = subprocess.run([EXE, 'parse', '--task', 'spatial', '--image', str(CAKES), '--draw', str(out)], input=answer,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert len(r['data']['boxes']) == 12 and r['visuals'][0]['input_size'] == [1036, 1036]
    assert all(0 <= v <= 1024 for b in r['data']['boxes'] for v in b['bbox'])
    assert out.stat().st_size > 10_000

def test_run_task_end_to_end():
    p = qwen_vl('run', '--model', 'tiny', '--task', 'ocr', '--mode', 'spotting', '--image', str(CAKES), '--max-new-tokens', '8')
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r['task'] == 'ocr' and r['mode'] == 'spotting' and r['inference']['completion_tokens'] <= 8

def test_serve_exits_when_the_first_model_load_fails(tmp_path):
    "A folder that is no model: found at once, fails while loading in the background; the server stops with exit code 4."
    (tmp_path/'config.json').write_text('{"model_type": "qwen2_5_vl"}')
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    p = qwen_vl('serve', '--model', str(tmp_path), '--no-ui', '--port', str(port))
    assert p.returncode == 4, (p.returncode, p.stderr[-2000:])
    assert 'the model failed to load' in p.stderr and 'exiting' in p.stderr

MODEL_CODE = {'torch', 'transformers', 'gradio'}
SPOTTED = '```json\n[{"bbox_2d": [10, 20, 200, 60], "text_content": "Hello"}]\n```'

def imports(*args, stdin=None):
    "Run `qwen-vl ARGS` under `python -X importtime`: the process, and the top-level packages it imported."
    p = subprocess.run([sys.executable, '-X', 'importtime', EXE, *args], input=stdin, capture_output=True, text=True,
                       env=dict(os.environ, HF_HUB_OFFLINE='1'), timeout=300)
    mods = {l.rsplit('|', 1)[1].strip().split('.')[0] for l in p.stderr.splitlines() if l.startswith('import time:') and '|' in l}
    return p, mods

def test_help_imports_no_model_code():
    for args in (['--help'], *([c, '--help'] for c in ('doctor', 'make-tiny', 'run', 'parse', 'serve', 'bench', 'hash-key'))):
        p, mods = imports(*args)
        assert p.returncode == 0 and 'usage: qwen-vl' in p.stdout, (args, p.stderr[-2000:])
        assert not mods & MODEL_CODE, (args, mods & MODEL_CODE)

def test_parse_imports_no_model_code():
    p, mods = imports('parse', '--task', 'ocr', '--image-size', '1024x768', stdin=SPOTTED)
    assert p.returncode == 0, p.stderr[-2000:]
    r = json.loads(p.stdout)
    assert (r['mode'], r['visuals'][0]['input_size'], r['data']['lines'][0]['bbox']) == ('spotting', [1036, 756], [9.9, 20.3, 197.7, 61.0])
    assert not mods & MODEL_CODE, mods & MODEL_CODE
