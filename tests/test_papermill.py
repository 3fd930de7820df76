"The papermill integration suite (tests_nb/), one test per notebook, with the tiny model on the CPU — and the task notebooks again with the remote backend against a second, real `qwen-vl serve --model tiny`."
import os, signal, subprocess, sys, time
from pathlib import Path
import httpx
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT/'tests_nb').glob('*.ipynb'))
TASKS = [p for p in NOTEBOOKS if p.stem.startswith('task_')]
OUT = ROOT/'build'/'tests_nb'
EXE = str(Path(sys.executable).parent/'qwen-vl')

def run(nb:Path, out:str, **params):
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    pm.execute_notebook(str(nb), str(OUT/out), parameters=dict(model='tiny', **params), cwd=str(nb.parent),
                        kernel_name='python3', progress_bar=False)

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill(nb):
    run(nb, nb.name)

@pytest.fixture(scope='module')
def remote_url():
    "A second process: `qwen-vl serve --model tiny --no-ui` on 127.0.0.1, the remote engine's server."
    import socket
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    p = subprocess.Popen([EXE, 'serve', '--model', 'tiny', '--no-ui', '--port', str(port)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env=dict(os.environ, HF_HUB_OFFLINE='1'))
    url = f'http://127.0.0.1:{port}'
    for _ in range(360):
        try:
            if httpx.get(url + '/readyz', timeout=2).status_code == 200: break
        except httpx.HTTPError: pass
        assert p.poll() is None, p.stdout.read()
        time.sleep(0.5)
    else: pytest.fail('the remote server never became ready')
    yield url + '/v1'
    p.send_signal(signal.SIGINT)
    try: p.wait(30)
    except subprocess.TimeoutExpired: p.kill()

@pytest.mark.parametrize('nb', TASKS, ids=lambda p: p.stem)
def test_papermill_remote(nb, remote_url):
    run(nb, 'remote-' + nb.name, backend='remote', remote_url=remote_url)
