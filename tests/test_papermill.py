"The papermill integration suite (tests_nb/) with the tiny model on the CPU: each smoke notebook, and `task.ipynb` once per task with that task's mode, fields, media and a prefill holding found items — and the task runs again with the remote backend against a second, real `qwen-vl serve --model tiny`."
import os
from pathlib import Path
import papermill as pm
import pytest
from conftest import serve_tiny
from qwen_vl.tasks.base import BUILTIN

ROOT = Path(__file__).resolve().parent.parent
TASK_NB = ROOT/'tests_nb'/'task.ipynb'
SMOKES = sorted(p for p in (ROOT/'tests_nb').glob('*.ipynb') if p != TASK_NB)
OUT = ROOT/'build'/'tests_nb'
ASSETS = 'reference/qwen25vl-cookbooks/assets'
MAX_PIXELS = 128*28*28 # a small pixel range: quick on the CPU, and the model's coordinates differ from the original pixels

def fenced(lang:str, body:str) -> str: return f'```{lang}\n{body}\n```'
def tool_call(name:str, args:str) -> str: return f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'

CASES = { # task -> its papermill parameters; each prefill holds items in the model's input pixels
    'ocr': dict(mode='spotting', media=f'{ASSETS}/ocr/ocr_example3.jpg',
                prefill=fenced('json', '[{"bbox_2d": [10, 12, 150, 40], "text_content": "Invoice"}, {"bbox_2d": [10, 50, 400, 70], "text_content": "Total 12.50"}]')),
    'document': dict(mode='qwenvl_html', media=f'{ASSETS}/document_parsing/docparsing_example6.png',
                     prefill=fenced('html', '<html><body><h1 data-bbox="20 10 230 40">Title</h1><p data-bbox="20 60 240 900">Body text</p></body></html>')),
    'recognition': dict(mode='identify', fields={'category': 'bird'}, media='image', prefill='1. Sparrow\n2. Robin\n\n'),
    'spatial': dict(mode='detect', fields={'target': 'cake'}, media=f'{ASSETS}/spatial_understanding/cakes.png',
                    prefill=fenced('json', '[{"bbox_2d": [12, 20, 90, 110], "label": "cake"}, {"bbox_2d": [300, 250, 100, 120], "label": "cake"}]')),
    'video': dict(mode='events', fields={'fps': 2.0}, media='video',
                  prefill=fenced('json', '[{"start_time": "00:00.50", "end_time": "00:02.00", "description": "a red bar enters"}]')),
    'computer_use': dict(mode='act', fields={'query': 'open the third issue'}, media=f'{ASSETS}/computer_use/computer_use2.jpeg',
                         prefill=tool_call('computer_use', '{"action": "left_click", "coordinate": [200, 130]}')),
    'mobile_use': dict(mode='act', fields={'query': 'Open the Music folder'}, media=f'{ASSETS}/agent_function_call/mobile_en_example.png',
                       prefill=tool_call('mobile_use', '{"action": "swipe", "coordinate": [90, 400], "coordinate2": [90, 120]}')),
}

def run(nb:Path, out:str, **params):
    "Execute `nb` with the tiny model into `build/tests_nb/out`; the kernel is stopped at once when done (a graceful exit costs seconds)."
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    pm.execute_notebook(str(nb), str(OUT/out), parameters=dict(model='tiny', **params), cwd=str(ROOT),
                        kernel_name='python3', progress_bar=False, shutdown_kernel='immediate')

def run_task(task:str, out:str, scratch:Path, **params):
    "`task.ipynb` for `task` with its case, requiring the prefilled items (the tiny model finds none by itself); synthetic media go in `scratch`."
    run(TASK_NB, out, task=task, scratch=str(scratch), max_pixels=MAX_PIXELS, max_new_tokens=16, min_new_tokens=4, expect_items=True,
        **CASES[task], **params)

def test_cases_cover_every_task():
    assert set(CASES) == set(BUILTIN), set(CASES) ^ set(BUILTIN)

@pytest.mark.parametrize('nb', SMOKES, ids=lambda p: p.stem)
def test_papermill(nb):
    run(nb, nb.name)

@pytest.mark.parametrize('task', CASES)
def test_papermill_task(task, tmp_path):
    run_task(task, f'task_{task}.ipynb', tmp_path)

@pytest.fixture(scope='module')
def remote_url():
    "A second process: `qwen-vl serve --model tiny --no-ui` on 127.0.0.1 with the same pixel range, the remote engine's server."
    with serve_tiny('--no-ui', env={'QWEN_MAX_PIXELS': str(MAX_PIXELS)}) as (url, _): yield url + '/v1'

@pytest.mark.parametrize('task', CASES)
def test_papermill_remote(task, remote_url, tmp_path):
    run_task(task, f'remote-task_{task}.ipynb', tmp_path, backend='remote', remote_url=remote_url)
