"The papermill integration suite (tests_nb/), one test per notebook, with the tiny model on the CPU — and the task notebooks again with the remote backend against a second, real `qwen-vl serve --model tiny`."
import os
from pathlib import Path
import papermill as pm
import pytest
from conftest import serve_tiny

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT/'tests_nb').glob('*.ipynb'))
TASKS = [p for p in NOTEBOOKS if p.stem.startswith('task_')]
OUT = ROOT/'build'/'tests_nb'

def run(nb:Path, out:str, **params):
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    pm.execute_notebook(str(nb), str(OUT/out), parameters=dict(model='tiny', **params), cwd=str(ROOT),
                        kernel_name='python3', progress_bar=False)

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill(nb):
    run(nb, nb.name)

@pytest.fixture(scope='module')
def remote_url():
    "A second process: `qwen-vl serve --model tiny --no-ui` on 127.0.0.1, the remote engine's server."
    with serve_tiny('--no-ui') as (url, _): yield url + '/v1'

@pytest.mark.parametrize('nb', TASKS, ids=lambda p: p.stem)
def test_papermill_remote(nb, remote_url):
    run(nb, 'remote-' + nb.name, backend='remote', remote_url=remote_url)
