"""A limit set in the settings refuses the same over-limit request with the same message through every face: a
notebook (the service itself), the HTTP API, the command line, the dashboard and the app (in a real browser)."""
import base64, os, subprocess, sys
from pathlib import Path
import httpx, pytest
from conftest import serve_tiny
from qwen_vl.config import load_settings
from qwen_vl.errors import InputError
from qwen_vl.service import InferenceService

ROOT = Path(__file__).resolve().parent.parent
IMAGE = ROOT/'nbs/images/app-compare.jpg'
EXE = str(Path(sys.executable).parent/'qwen-vl')
LIMITS = dict(QWEN_MAX_PROMPT_CHARS='60', QWEN_MAX_IMAGES='1')
PROMPT = 'Read every word of this picture, line by line, and nothing else at all.'  # 71 characters

@pytest.fixture(scope='module')
def refusals() -> dict:
    "What the service itself says to each over-limit request (a notebook's face)."
    s = InferenceService(load_settings(env={}, model='tiny', max_prompt_chars=60, max_images=1)).start(background=False)
    out = {}
    for name, kw in dict(long_prompt=dict(images=[str(IMAGE)], prompt=PROMPT), two_images=dict(images=[str(IMAGE)] * 2)).items():
        with pytest.raises(InputError) as e: s.run_task('ocr', **kw)
        out[name] = str(e.value)
    assert 'characters of text; the limit is 60 (QWEN_MAX_PROMPT_CHARS)' in out['long_prompt']
    assert out['two_images'] == 'too many images: at most 1 per request (QWEN_MAX_IMAGES)'
    return out

@pytest.fixture(scope='module')
def server():
    with serve_tiny(env=LIMITS) as (url, proc): yield url

def test_api_refuses_with_the_services_message(server, refusals):
    img = 'data:image/jpeg;base64,' + base64.b64encode(IMAGE.read_bytes()).decode()
    r = httpx.post(server + '/v1/tasks/ocr', json={'images': [img], 'prompt': PROMPT}, timeout=60)
    assert (r.status_code, r.json()['error']['message']) == (413, refusals['long_prompt'])
    r = httpx.post(server + '/v1/tasks/ocr', json={'images': [img, img]}, timeout=60)
    assert (r.status_code, r.json()['error']['message']) == (400, refusals['two_images'])
    files = [('images', ('a.jpg', IMAGE.read_bytes(), 'image/jpeg'))] * 2  # uploads are counted as they arrive
    r = httpx.post(server + '/v1/tasks/ocr', files=files, timeout=60)
    assert (r.status_code, r.json()['error']['message']) == (400, refusals['two_images'])

def test_cli_refuses_with_the_services_message(refusals):
    env = dict(os.environ, HF_HUB_OFFLINE='1', **LIMITS)
    for args, msg in ((['--prompt', PROMPT, '--image', str(IMAGE)], refusals['long_prompt']),
                      (['--image', str(IMAGE), '--image', str(IMAGE)], refusals['two_images'])):
        r = subprocess.run([EXE, 'run', '--model', 'tiny', '--task', 'ocr', *args], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 2, r.stderr
        assert f'qwen-vl run: error: {msg}' in r.stderr, r.stderr[-1000:]
