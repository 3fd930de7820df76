"""A limit set in the settings refuses the same over-limit request with the same message through every face: a
notebook (the service itself), the HTTP API, the command line, the dashboard and the app (in a real browser)."""
import base64, os, subprocess, sys
from datetime import datetime, timezone
from pathlib import Path
import httpx, pytest
from conftest import serve_tiny
from qwen_vl.config import load_settings
from qwen_vl.errors import InputError
from qwen_vl.service import InferenceService

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT/'reference/qwen25vl-cookbooks/assets'
IMAGE = ASSETS/'spatial_understanding/cakes.png'
BIRD, LANDMARKS = ASSETS/'universal_recognition/unireco_bird_example.jpg', ASSETS/'universal_recognition/unireco_landmarks_example.jpg'
CHROMIUM = '/usr/bin/chromium'
EXE = str(Path(sys.executable).parent/'qwen-vl')
LIMITS = dict(QWEN_MAX_PROMPT_CHARS='60', QWEN_MAX_IMAGES='1')
PROMPT = 'Read every word of this picture, line by line, and nothing else at all.'  # 71 characters

@pytest.fixture(scope='module')
def refusals() -> dict:
    "What the service itself says to each over-limit request (a notebook's face)."
    s = InferenceService(load_settings(env={}, model='tiny', max_prompt_chars=60, max_images=1)).start(background=False)
    out = {}
    for name, task, kw in (('long_prompt', 'ocr', dict(images=[str(IMAGE)], prompt=PROMPT)), ('two_images', 'recognition', dict(images=[str(BIRD), str(LANDMARKS)]))):
        with pytest.raises(InputError) as e: s.run_task(task, **kw)
        out[name] = str(e.value)
    assert 'characters of text; the limit is 60 (QWEN_MAX_PROMPT_CHARS)' in out['long_prompt']
    assert out['two_images'] == 'too many images: at most 1 per request (QWEN_MAX_IMAGES)'
    return out

@pytest.fixture(scope='module')
def server():
    with serve_tiny(env=LIMITS) as (url, proc): yield url

def test_api_refuses_with_the_services_message(server, refusals):
    url = lambda p, mime: f'data:{mime};base64,' + base64.b64encode(p.read_bytes()).decode()
    r = httpx.post(server + '/v1/tasks/ocr', json={'images': [url(IMAGE, 'image/png')], 'prompt': PROMPT}, timeout=60)
    assert (r.status_code, r.json()['error']['message']) == (413, refusals['long_prompt'])
    r = httpx.post(server + '/v1/tasks/recognition', json={'images': [url(BIRD, 'image/jpeg'), url(LANDMARKS, 'image/jpeg')]}, timeout=60)
    assert (r.status_code, r.json()['error']['message']) == (400, refusals['two_images'])
    files = [('images', (p.name, p.read_bytes(), 'image/jpeg')) for p in (BIRD, LANDMARKS)]  # uploads are counted as they arrive
    r = httpx.post(server + '/v1/tasks/recognition', files=files, timeout=60)
    assert (r.status_code, r.json()['error']['message']) == (400, refusals['two_images'])

def test_cli_refuses_with_the_services_message(refusals):
    env = dict(os.environ, HF_HUB_OFFLINE='1', **LIMITS)
    for args, msg in ((['--task', 'ocr', '--prompt', PROMPT, '--image', str(IMAGE)], refusals['long_prompt']),
                      (['--task', 'recognition', '--image', str(BIRD), '--image', str(LANDMARKS)], refusals['two_images'])):
        r = subprocess.run([EXE, 'run', '--model', 'tiny', *args], capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 2, r.stderr
        assert f'qwen-vl run: error: {msg}' in r.stderr, r.stderr[-1000:]

def test_dashboard_refuses_with_the_services_message(refusals):
    from qwen_vl.dashboard import Dashboard
    s = InferenceService(load_settings(env={}, model='tiny', max_images=1)).start(background=False)
    dash = Dashboard(s)
    dash.task.value = 'recognition'
    dash.upload.value = tuple(dict(name=p.name, type='image/jpeg', size=p.stat().st_size, content=memoryview(p.read_bytes()), last_modified=datetime.now(timezone.utc))
                              for p in (BIRD, LANDMARKS))
    dash.start(wait=True)
    assert refusals['two_images'] in dash.notice.value and refusals['two_images'] in dash.answer.value, (dash.notice.value, dash.answer.value)
    assert not s.busy

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')
def test_app_refuses_with_the_services_message(server, refusals):
    "In Chromium: two images in the Recognition tab, over QWEN_MAX_IMAGES=1, get the same refusal as everywhere else."
    from playwright.sync_api import sync_playwright, expect
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=['--no-sandbox', '--disable-gpu', '--no-first-run'])
        try:
            page = b.new_page(viewport={'width': 1400, 'height': 1000})
            page.goto(server + '/ui/', wait_until='load')
            expect(page.locator('#status')).to_contain_text('ready', timeout=60_000)
            page.get_by_role('tab', name='Recognition').click()
            tab = page.locator('#tab-recognition')
            tab.locator('#recognition-upload input[type=file]').set_input_files([str(BIRD), str(LANDMARKS)])
            expect(tab.locator('#recognition-preview-note')).to_contain_text('unireco_bird_example.jpg', timeout=30_000)
            tab.locator('#recognition-run').click()
            expect(tab.locator('#recognition-notice')).to_contain_text(refusals['two_images'], timeout=60_000)
        finally: b.close()
