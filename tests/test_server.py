"`qwen-vl serve --model tiny` as a user runs it: a real server on 127.0.0.1, the app in a real browser."
from contextlib import contextmanager
from pathlib import Path
import re
import httpx, pytest
from conftest import serve_tiny, upload

ROOT = Path(__file__).resolve().parent.parent
CAKES = ROOT/'reference/qwen25vl-cookbooks/assets/spatial_understanding/cakes.png'
SHOTS = ROOT/'build'/'screenshots'
CHROMIUM = '/usr/bin/chromium'
ADMIN = 'browser-admin-key'  # loading a model in the app is an admin action

@pytest.fixture(scope='module')
def server():
    with serve_tiny(env={'QWEN_MAX_NEW_TOKENS': '24', 'QWEN_ADMIN_KEYS': f'["{ADMIN}"]'}) as (url, p): yield url, p
    assert p.returncode in (0, 130), f'SIGINT should stop the server cleanly, got {p.returncode}'

def test_serve_api_and_clean_stop(server):
    url, p = server
    r = httpx.post(url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 3}, timeout=60)
    assert r.status_code == 200 and r.json()['usage']['completion_tokens'] == 3
    assert httpx.get(url + '/', follow_redirects=False).headers['location'] == '/ui/'

@contextmanager
def app_tab(url:str, name:str, tab_id:str, shot:str, key:str|None=None):
    "Debian's Chromium on the app's tab `name` once the model is ready (signed in with `key`); yields the tab, then saves a screenshot."
    from playwright.sync_api import sync_playwright, expect
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'])
        page = b.new_page(viewport={'width': 1400, 'height': 1000})
        page.goto(url + '/ui/', wait_until='load')
        if key:  # Gradio's login page: any user name, the key as password
            page.get_by_label('username').fill('ann'); page.get_by_label('password').fill(key)
            page.get_by_role('button', name='Login').click()
        expect(page.locator('#status')).to_contain_text('ready', timeout=60_000)
        page.get_by_role('tab', name=name).click()
        try: yield page.locator(tab_id)
        finally:  # kept on a failure too: it shows what the test saw
            page.screenshot(path=str(SHOTS/shot), full_page=True)
            b.close()
    assert (SHOTS/shot).stat().st_size > 20_000

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')
def test_browser_runs_a_task(server):
    from playwright.sync_api import expect
    with app_tab(server[0], 'Grounding', '#tab-spatial', 'app-grounding.png') as tab:
        run_grounding(tab)
        expect(tab.locator('#spatial-answer textarea')).to_have_value(__import__('re').compile(r'bbox_2d'), timeout=60_000)
        expect(tab.locator('#spatial-picture img')).to_be_visible(timeout=60_000)
        expect(tab.locator('#spatial-parsed')).to_contain_text('512', timeout=30_000)  # the mapped box in the parsed result

def run_grounding(tab, prefill:str='```json\n[{"bbox_2d": [518, 259, 1036, 777], "label": "cake"}]\n```'):
    "Upload the cakes, ask for a cake with `prefill`, press Run (again: a new prefill only)."
    box = tab.locator('#spatial-prefill textarea')
    if not box.is_visible():
        upload(tab, 'spatial', CAKES)
        tab.locator('#spatial-target textarea, #spatial-target input').first.fill('cake')
        tab.get_by_text('Answer starts with (prefill)').click()
    box.fill(prefill)
    tab.locator('#spatial-run').click()

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')
def test_browser_compares_two_configurations(server):
    "The Compare tab: the tiny model against its NF4 version on one image, side by side with a table."
    from playwright.sync_api import expect
    with app_tab(server[0], 'Compare', '#tab-compare', 'app-compare.png') as tab:
        tab.locator('input[type=file]').first.set_input_files(str(CAKES))
        expect(tab.locator('#compare-note')).to_contain_text('pixels', timeout=30_000)  # the upload has been read
        tab.get_by_label('Answer starts with (prefill)').fill('```json\n[{"bbox_2d": [518, 259, 1036, 777], "label": "cake"}]\n```')
        tab.get_by_label('4bit').check()
        tab.locator('#compare-run').click()
        expect(tab.locator('#compare-picture img')).to_be_visible(timeout=90_000)
        expect(tab.locator('#compare-table')).to_contain_text('tiny (4bit)', timeout=30_000)
        # the fields are boxes laid out from the chosen task's description, shown for the modes that use them
        expect(tab.locator('#compare-spatial-target')).to_be_visible()
        expect(tab.locator('#compare-ocr-keys')).to_be_hidden()
        tab.get_by_role('combobox', name='Task').click(); tab.page.get_by_role('option', name='OCR').click()
        expect(tab.locator('#compare-spatial-target')).to_be_hidden()
        tab.get_by_role('combobox', name='Mode').click(); tab.page.get_by_role('option', name='key_value').click()
        expect(tab.locator('#compare-ocr-keys')).to_be_visible()

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')
def test_app_users_share_their_keys_rate_limit(tmp_path):
    "Signed in with a key, the app's requests count against that key's limit, together with the API's."
    from playwright.sync_api import expect
    env = {'QWEN_API_KEYS': '["k-ui"]', 'QWEN_RATE_LIMIT_RPM': '2', 'QWEN_MAX_NEW_TOKENS': '8', 'QWEN_AUDIT_LOG': 'true'}
    with serve_tiny(env=env, log=tmp_path/'server.log') as (url, p):
        with app_tab(url, 'Grounding', '#tab-spatial', 'app-rate-limited.png', key='k-ui') as tab:
            run_grounding(tab)
            expect(tab.locator('#spatial-parsed')).to_contain_text('512', timeout=60_000)
            r = httpx.get(url + '/v1/models', headers={'Authorization': 'Bearer k-ui'})  # the key's second request this minute
            assert r.status_code == 200
            run_grounding(tab, prefill='```json\n[')
            expect(tab.locator('#spatial-answer textarea')).to_have_value(__import__('re').compile('rate limit reached for API key'), timeout=60_000)
        assert httpx.get(url + '/v1/models', headers={'Authorization': 'Bearer k-ui'}).status_code == 429
    log = (tmp_path/'server.log').read_text()
    assert 'method=UI' in log and 'route=/ui/tasks/spatial' in log and 'status=429' in log, log[-3000:]

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')
def test_task_tab_refuses_a_non_image_named_png(server, tmp_path):
    "Text renamed .png, uploaded in a task tab: refused at the upload with the chat's and the API's message (what is wrong, what is allowed), no Gradio internals."
    from playwright.sync_api import expect
    fake = tmp_path/'cat.png'; fake.write_bytes(b'just some text, not a picture\n' * 50)
    refusal = re.compile(r'not an image we can read; allowed: JPEG, PNG, WebP')
    with app_tab(server[0], 'Grounding', '#tab-spatial', 'app-not-an-image.png') as tab:
        tab.locator('#spatial-upload input[type=file]').set_input_files(str(fake))
        expect(tab.page.get_by_text(refusal).first).to_be_visible(timeout=30_000)  # said as soon as it is uploaded
        shown = tab.page.locator('body').inner_text()
        for internal in ('Could not', 'preprocess', 'UnidentifiedImageError', 'Traceback', '/tmp/'):
            assert internal not in shown, (internal, shown[-2000:])

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')
def test_export_of_a_long_key_value_result(server):
    "OCR key-value fields thousands of characters long: Export returns the JSON, the PNG and a PDF that flows over pages."
    import json
    from playwright.sync_api import expect
    fields = {'company': 'UNIHAKKA INTERNATIONAL SDN BHD ' * 100, 'address': '12, Jalan Tampoi 7/4, ' + 'Johor Bahru ' * 300, 'total': 'RM8.75'}
    with app_tab(server[0], 'OCR', '#tab-ocr', 'app-export-key-value.png') as tab:
        upload(tab, 'ocr', ROOT/'reference/qwen25vl-cookbooks/assets/ocr/ocr_example3.jpg')
        tab.get_by_label('Mode').click(); tab.page.get_by_role('option', name='key_value').click()
        tab.locator('#ocr-keys textarea, #ocr-keys input').first.fill('company, address, total')
        tab.get_by_text('Answer starts with (prefill)').click()
        tab.locator('#ocr-prefill textarea').fill('```json\n' + json.dumps(fields) + '\n```')
        tab.locator('#ocr-run').click()
        expect(tab.locator('#ocr-parsed')).to_contain_text('UNIHAKKA', timeout=90_000)
        tab.get_by_role('button', name='Export JSON / PNG / PDF').click()
        exports = tab.locator('#ocr-exports')
        for suffix in ('.json', '.png', '.pdf'): expect(exports).to_contain_text(suffix, timeout=60_000)
        expect(tab.locator('#ocr-export-note')).not_to_contain_text('failed')

@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')
def test_a_failed_model_switch_keeps_the_model_serving(server):
    "Settings → a model that can't be loaded → Load model: refused without the admin key; with it, the panel says why the switch failed, and the tiny model keeps answering."
    from playwright.sync_api import expect
    url = server[0]
    with app_tab(url, 'Grounding', '#tab-spatial', 'app-switch-failed.png') as tab:
        page = tab.page
        page.get_by_role('button', name='Settings ▼').click()
        box = page.get_by_label('Model (tiny, 3B, 7B, hub id or folder)')
        box.fill('nobody/not-downloaded'); box.press('Enter')
        page.get_by_role('button', name='Load model').click()
        expect(page.locator('#switch-status')).to_contain_text('loading a model needs an admin key (QWEN_ADMIN_KEYS)', timeout=30_000)
        page.wait_for_timeout(3000)  # the status refresh (every 2 s) leaves the reason there
        expect(page.locator('#switch-status')).to_contain_text('nothing was changed')
        page.locator('#admin-key input, #admin-key textarea').first.fill(ADMIN)
        page.get_by_role('button', name='Load model').click()
        expect(page.locator('#switch-status')).to_contain_text('switching to nobody/not-downloaded failed', timeout=60_000)
        expect(page.locator('#switch-status')).to_contain_text('still serving tiny')
        expect(page.locator('#status')).to_contain_text('ready')
        run_grounding(tab)
        expect(tab.locator('#spatial-parsed')).to_contain_text('512', timeout=60_000)
    r = httpx.get(url + '/readyz', headers={'Authorization': f'Bearer {ADMIN}'})  # the detail is for admin keys
    assert r.status_code == 200 and r.json()['model'] == 'tiny' and 'nobody/not-downloaded' in r.json()['switch_error'], r.json()
