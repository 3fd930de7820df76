"""The task tabs of `qwen-vl serve --model tiny` as a person uses them, in Debian's Chromium: Stop ends a long answer in
a task tab and in the chat (what came so far stays, the audit line says cancelled), a run that finds nothing says so
above its result, the parsed result comes before the raw answer, and Recognition's compare mode takes several images."""
import re, time
from contextlib import contextmanager
from pathlib import Path
import pytest
from conftest import serve_tiny, upload

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT/'reference/qwen25vl-cookbooks/assets'
CAKES = ASSETS/'spatial_understanding/cakes.png'
BIRD, LANDMARKS = ASSETS/'universal_recognition/unireco_bird_example.jpg', ASSETS/'universal_recognition/unireco_landmarks_example.jpg'
CHROMIUM = '/usr/bin/chromium'
SHOTS = ROOT/'build'/'screenshots'

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed')

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp('logs')/'server.log'
    with serve_tiny(env={'QWEN_MAX_NEW_TOKENS': '8', 'QWEN_AUDIT_LOG': 'true'}, log=log) as (url, p): yield url, log

def audit(log:Path, route:str, seconds:float=30) -> str:
    "The server's last audit line for `route`, once there is one."
    t0 = time.time()
    while time.time() - t0 < seconds:
        found = [l for l in log.read_text().splitlines() if 'method=UI' in l and f'route={route} ' in l]
        if found: return found[-1]
        time.sleep(0.2)
    pytest.fail(f'no audit line for {route}')

@contextmanager
def app_page(url:str, shot:str, max_new_tokens:int|None=None):
    "Chromium on the app once the model is ready, with the settings panel's Max new tokens set; yields the page, then saves a screenshot."
    from playwright.sync_api import sync_playwright, expect
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'])
        try:
            page = b.new_page(viewport={'width': 1400, 'height': 1000})
            page.goto(url + '/ui/', wait_until='load')
            expect(page.locator('#status')).to_contain_text('ready', timeout=60_000)
            if max_new_tokens:
                page.get_by_role('button', name='Settings ▼').click()
                box, slider = page.get_by_label('number input for Max new tokens'), page.get_by_label('range slider for Max new tokens')
                for _ in range(5):  # typed while the page still settles, a value can be lost: type it again
                    box.fill(str(max_new_tokens)); box.press('Tab')
                    page.wait_for_timeout(500)
                    if slider.input_value() == str(max_new_tokens): break
                expect(slider).to_have_value(str(max_new_tokens))
            yield page
            page.screenshot(path=str(SHOTS/shot), full_page=True)
        finally: b.close()

def test_stop_ends_a_task_run(server):
    "A description thousands of tokens long: Stop ends it at the next token; the notice says so, what came is parsed, the audit line says cancelled."
    from playwright.sync_api import expect
    url, log = server
    with app_page(url, 'app-task-stopped.png', max_new_tokens=4000) as page:
        page.get_by_role('tab', name='Recognition').click()
        tab = page.locator('#tab-recognition')
        upload(tab, 'recognition', CAKES)
        expect(tab.locator('#recognition-preview img').first).to_be_visible(timeout=30_000)
        tab.locator('#recognition-run').click()
        answer = tab.locator('#recognition-answer textarea')
        expect(answer).to_have_value(re.compile(r'\S'), timeout=60_000)  # streaming
        tab.locator('#recognition-stop').click()
        expect(tab.locator('#recognition-notice')).to_contain_text('Stopped after', timeout=30_000)
        expect(tab.locator('#recognition-parsed')).to_contain_text('cancelled', timeout=30_000)
        shown = answer.input_value()
        page.wait_for_timeout(1500)
        assert answer.input_value() == shown  # it grows no more
    line = audit(log, '/ui/tasks/recognition')
    tokens = int(re.search(r'completion_tokens=(\d+)', line).group(1))
    assert 'outcome=cancelled' in line and 0 < tokens < 4000, line

def test_stop_ends_a_chat_answer(server):
    "A long story in the chat: Stop ends it; the audit line says cancelled, with the tokens that came."
    from playwright.sync_api import expect
    url, log = server
    with app_page(url, 'app-chat-stopped.png', max_new_tokens=4000) as page:
        box = page.locator('textarea[placeholder="Ask about images or videos…"]')
        box.fill('Tell me a long story.'); box.press('Enter')
        bot = page.locator('.message.bot, [data-testid="bot"]').last
        expect(bot).to_contain_text(re.compile(r'\S'), timeout=60_000)
        page.locator('#chat-stop').click()
        line = audit(log, '/ui/chat')
    tokens = int(re.search(r'completion_tokens=(\d+)', line).group(1))
    assert 'outcome=cancelled' in line and 0 < tokens < 4000, line

def test_nothing_found_is_said(server):
    "The tiny model finds no cake: the tab says so above the picture, and the parsed result comes before the raw answer."
    from playwright.sync_api import expect
    with app_page(server[0], 'app-nothing-found.png') as page:
        page.get_by_role('tab', name='Grounding').click()
        tab = page.locator('#tab-spatial')
        upload(tab, 'spatial', CAKES)
        tab.locator('#spatial-target textarea, #spatial-target input').first.fill('cake')
        tab.locator('#spatial-run').click()
        notice = tab.locator('#spatial-notice')
        expect(notice).to_contain_text('Nothing found: the answer holds no boxes or points (no boxes or points found).', timeout=60_000)
        expect(tab.locator('#spatial-parsed')).to_contain_text('spatial', timeout=30_000)
        y = {k: tab.locator(f'#spatial-{k}').bounding_box()['y'] for k in ('notice', 'picture', 'parsed', 'answer')}
    assert y['notice'] < y['picture'] < y['parsed'] < y['answer'], y

def test_recognition_compares_several_images(server):
    "Recognition's tab takes several images: both are previewed with their sizes, and the compare mode reads both."
    from playwright.sync_api import expect
    with app_page(server[0], 'app-recognition-compare.png') as page:
        page.get_by_role('tab', name='Recognition').click()
        tab = page.locator('#tab-recognition')
        tab.locator('#recognition-upload input[type=file]').set_input_files([str(BIRD), str(LANDMARKS)])
        expect(tab.locator('#recognition-preview-note')).to_contain_text('unireco_landmarks_example.jpg: 2506×1698 pixels', timeout=30_000)
        expect(tab.locator('#recognition-preview-note')).to_contain_text('unireco_bird_example.jpg: 1073×972 pixels')
        tab.get_by_label('Mode').click(); page.get_by_role('option', name='compare').click()
        tab.locator('#recognition-run').click()
        parsed = tab.locator('#recognition-parsed')
        expect(parsed).to_contain_text('compare', timeout=60_000)
        for size in ('1073', '2506'): expect(parsed).to_contain_text(size)  # both images' original sizes, in the result's visuals
        expect(tab.locator('#recognition-notice')).to_have_text('')

def test_exports_are_named_in_full(server):
    "Export after an OCR run: JSON, PNG and PDF named for the task and the moment, each name shown whole in the list and in the note."
    from playwright.sync_api import expect
    with app_page(server[0], 'app-exports.png') as page:
        page.get_by_role('tab', name='OCR').click()
        tab = page.locator('#tab-ocr')
        upload(tab, 'ocr', ASSETS/'ocr/ocr_example3.jpg')
        tab.locator('#ocr-run').click()
        expect(tab.locator('#ocr-parsed')).to_contain_text('lines', timeout=60_000)
        tab.get_by_role('button', name='Export JSON / PNG / PDF').click()
        note = tab.locator('#ocr-export-note')
        expect(note).to_contain_text(re.compile(r'Exported ocr-\d{8}-\d{6}\.json, ocr-\d{8}-\d{6}\.png, ocr-\d{8}-\d{6}\.pdf'), timeout=60_000)
        expect(note).not_to_contain_text('failed')
        expect(tab.locator('#ocr-exports .filename')).to_have_count(3, timeout=30_000)
        names = tab.locator('#ocr-exports .filename').evaluate_all(
            "cells => cells.map(c => [c.textContent.trim(), [...c.querySelectorAll('*')].every(e => e.scrollWidth <= e.clientWidth + 1)])")
    shown = [n.replace(' ', '') for n, _ in names]  # the name's stem and extension, as the list shows them
    assert sorted(n[-4:] for n in shown) == ['.pdf', '.png', 'json'] and all(re.fullmatch(r'ocr-\d{8}-\d{6}\.(json|png|pdf)', n) for n in shown), names
    assert all(whole for _, whole in names), f'names cut short: {names}'
