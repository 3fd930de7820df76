"""The README's shell commands, verbatim, in a fresh clone of the committed tree that has nothing beside it.

Each ```sh block is split into commands (backslash continuations joined) and run with bash from the clone's root.
Skipped, with the reason: commands that need real weights, a GPU or Docker, the install (CI runs it verbatim: checked
below), the test command itself, and JupyterLab (tests/test_jupyter.py starts it). `qwen-vl serve` runs in the
background until /readyz answers, serves the commands after it, and is stopped at the end."""
import os, re, shutil, signal, subprocess, sys, tempfile, time
from pathlib import Path
import httpx, pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT/'README.md').read_text()
INSTALL = ['python3 -m venv .venv && . .venv/bin/activate', 'pip install -e ".[dev]"']
SKIP = [(r'Qwen/Qwen|/models/|--quantization \dbit.*Qwen', 'needs real weights'), (r'\bcuda\b|nvidia', 'needs a GPU'),
        (r'^docker\b', 'needs a Docker engine'), (r'^python3 -m venv|^pip install', 'the install: .ci/run runs it verbatim'),
        (r'\bpytest\b', 'the test command itself'), (r'^jupyter lab\b', 'tests/test_jupyter.py starts JupyterLab'),
        (r'^apt-get\b', 'system packages: .ci/run installs them')]

def sh_commands(text:str) -> list[str]:
    "The commands of the ```sh blocks of `text`, continuation lines joined, blank lines and comments dropped."
    out = []
    for block in re.findall(r'^```sh\n(.*?)^```', text, re.M | re.S):
        for cmd in re.sub(r'\\\n\s*', ' ', block).splitlines():
            if cmd.strip() and not cmd.lstrip().startswith('#'): out.append(cmd.strip())
    return out

def python_blocks(text:str) -> str:
    "The ```python blocks of `text`, in order, as one script (later blocks use what earlier ones made, as in a notebook)."
    return '\n'.join(re.findall(r'^```python\n(.*?)^```', text, re.M | re.S))

def skip_reason(cmd:str) -> str|None:
    "Why `cmd` is not run here, or None."
    return next((why for pat, why in SKIP if re.search(pat, cmd)), None)

def test_commands_are_found_and_sorted():
    cmds = sh_commands(README)
    assert any(c.startswith('qwen-vl run --model tiny') for c in cmds) and any(c.startswith('qwen-vl serve --model tiny') for c in cmds)
    assert skip_reason('qwen-vl run --model Qwen/Qwen2.5-VL-3B-Instruct --image x.png') == 'needs real weights'
    assert skip_reason('docker compose up -d') == 'needs a Docker engine' and skip_reason('qwen-vl doctor') is None
    assert sum(skip_reason(c) is None for c in cmds) >= 12, [c for c in cmds if skip_reason(c) is None]
    assert 'UnifiedQwenInference' in python_blocks(README) and 'OpenAI(' in python_blocks(README)

def test_ci_installs_exactly_as_the_readme_says():
    ci = (ROOT/'.ci/run').read_text()
    assert all(l in README for l in INSTALL) and all(l.split(' && ')[0] in ci for l in INSTALL), INSTALL
    assert 'pip install -e ".[dev]"' in ci and re.search(r'^pytest$', ci, re.M)

@pytest.fixture(scope='module')
def clone():
    "A clone of the committed tree in a temporary folder with no `shared/` (or anything else of ours) above it."
    d = Path(tempfile.mkdtemp(prefix='qwen-vl-readme-'))
    try:
        subprocess.run(['git', 'clone', '--quiet', str(ROOT), str(d/'qwen_vl')], check=True, timeout=300)
        assert not any((p/'shared').exists() for p in d.parents)
        yield d/'qwen_vl'
    finally: shutil.rmtree(d, ignore_errors=True)

def ready(url:str, p:subprocess.Popen, timeout:float=180):
    t0 = time.time()
    while time.time() - t0 < timeout:
        assert p.poll() is None, p.stdout.read()
        try:
            if httpx.get(url + '/readyz', timeout=2).status_code == 200: return
        except httpx.HTTPError: pass
        time.sleep(0.5)
    pytest.fail(f'the README\'s server never became ready on {url}')

def test_readme_commands_run_verbatim_in_a_fresh_clone(clone):
    # the clone's own package, with the console scripts of this environment
    env = dict(os.environ, PATH=f'{Path(sys.executable).parent}:{os.environ["PATH"]}', PYTHONPATH=str(clone), HF_HUB_OFFLINE='1')
    servers, ran, failed = [], [], []
    try:
        for cmd in sh_commands((clone/'README.md').read_text()):
            if skip_reason(cmd): continue
            if cmd.startswith('qwen-vl serve'):
                p = subprocess.Popen(['bash', '-c', 'exec ' + cmd.split('#')[0]], cwd=clone, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                servers.append(p); ready('http://127.0.0.1:7860', p); ran.append(cmd); continue
            r = subprocess.run(['bash', '-o', 'pipefail', '-c', cmd], cwd=clone, env=env, capture_output=True, text=True, timeout=600)
            ran.append(cmd)
            if r.returncode != 0 or 'Traceback' in r.stderr: failed.append(f'$ {cmd}\n(exit {r.returncode})\n{r.stdout[-1500:]}\n{r.stderr[-3000:]}')
        # the Python examples, while the README's server is still up (the openai client talks to it)
        r = subprocess.run([sys.executable, '-c', python_blocks((clone/'README.md').read_text())], cwd=clone, env=env,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0: failed.append(f'the README\'s Python examples (exit {r.returncode})\n{r.stderr[-3000:]}')
    finally:
        for p in servers:
            p.send_signal(signal.SIGINT)
            try: p.wait(30)
            except subprocess.TimeoutExpired: p.kill()
    assert not failed, '\n\n'.join(failed)
    assert len(ran) >= 12, ran
    assert (clone/'build/cakes_parsed.png').stat().st_size > 10_000  # the parse command drew the real answer's boxes
