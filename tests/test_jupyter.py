"JupyterLab as a user opens it: a real server on 127.0.0.1, a live kernel running the dashboard, driven in Chromium."
import importlib.util, os, secrets, signal, subprocess, sys, tempfile, time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse
import httpx, nbformat, pytest
from conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
CAKES = ROOT/'reference/qwen25vl-cookbooks/assets/spatial_understanding/cakes.png'
SHOT = ROOT/'build'/'screenshots'/'dashboard-jupyterlab.png'
DATASET_SHOT = ROOT/'build'/'screenshots'/'dataset-view-jupyterlab.png'
FINETUNE_SHOT = ROOT/'build'/'screenshots'/'finetune-view-jupyterlab.png'
CHROMIUM = '/usr/bin/chromium'

pytestmark = [pytest.mark.skipif(not Path(CHROMIUM).exists(), reason='Debian chromium is not installed'),
              pytest.mark.skipif(importlib.util.find_spec('jupyterlab') is None, reason='jupyterlab is not installed (pip install -e ".[jupyter]")')]

CELLS = ['''from qwen_vl.config import load_settings
from qwen_vl.service import InferenceService
from qwen_vl.dashboard import Dashboard
svc = InferenceService(load_settings(model='tiny', max_new_tokens=8)).start(background=False)''', 'Dashboard(svc)']

# Six synthetic shapes in the notebook's folder, and the dashboard over a tiny model that sees small pictures (quick on a CPU).
DATASET_CELLS = ['''from qwen_vl.config import load_settings
from qwen_vl.service import InferenceService
from qwen_vl.dashboard import Dashboard
from qwen_vl.synthetic import make_dataset
svc = InferenceService(load_settings(model='tiny', max_new_tokens=8, max_pixels=160*28*28)).start(background=False)
make_dataset('shapes', 6, 0, 'data')''', 'Dashboard(svc)']
FINETUNE_CELLS = ['''from qwen_vl.config import load_settings
from qwen_vl.service import InferenceService
from qwen_vl.dashboard import Dashboard
from qwen_vl.synthetic import make_dataset
svc = InferenceService(load_settings(model='tiny', max_new_tokens=8, max_pixels=64*28*28)).start(background=False)
make_dataset('shapes', 24, 0, 'data')''', 'Dashboard(svc)']

# Nothing leaves 127.0.0.1: no news feed, no update check, no extension index.
CONFIG = '''c.LabApp.news_url = None
c.LabApp.check_for_updates_class = 'jupyterlab.handlers.announcements.NeverCheckForUpdate'
c.LabApp.extension_manager = 'readonly'
c.LabApp.expose_app_in_browser = True
'''

@contextmanager
def jupyter_lab(timeout:float=90, cells:list[str]=CELLS, name:str='dashboard.ipynb'):
    "`jupyter lab` on a free port with a fresh root (holding the notebook `name` of `cells`) and fresh settings; yields (url, token); stops it and its kernels."
    with tempfile.TemporaryDirectory(prefix='qwen-vl-lab-') as tmp:
        tmp = Path(tmp); root = tmp/'root'; root.mkdir()
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
        nb.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
        nbformat.write(nb, root/name)
        (tmp/'config').mkdir(); (tmp/'config'/'jupyter_lab_config.py').write_text(CONFIG)
        note = tmp/'settings'/'@jupyterlab'/'apputils-extension'/'notification.jupyterlab-settings'
        note.parent.mkdir(parents=True); note.write_text('{"fetchNews": "false", "checkForUpdates": false}')  # no news toast over the page
        port, token = free_port(), secrets.token_hex(16)
        env = dict(os.environ, HF_HUB_OFFLINE='1', GRADIO_ANALYTICS_ENABLED='False', JUPYTER_CONFIG_DIR=str(tmp/'config'),
                   JUPYTER_RUNTIME_DIR=str(tmp/'runtime'), JUPYTERLAB_SETTINGS_DIR=str(tmp/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(tmp/'workspaces'))
        log = open(tmp/'server.log', 'w')
        p = subprocess.Popen([sys.executable, '-m', 'jupyterlab', '--no-browser', '--allow-root', '--ServerApp.ip=127.0.0.1', f'--port={port}',
                              '--ServerApp.port_retries=0', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}'],
                             stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root, start_new_session=True)
        url, t0 = f'http://127.0.0.1:{port}', time.time()
        try:
            while True:
                assert p.poll() is None, (tmp/'server.log').read_text()
                try:
                    if httpx.get(f'{url}/api/status', params={'token': token}, timeout=2).status_code == 200: break
                except httpx.HTTPError: pass
                if time.time() - t0 > timeout: pytest.fail('jupyter lab never answered:\n' + (tmp/'server.log').read_text())
                time.sleep(0.3)
            yield url, token
        finally:
            try:
                for k in httpx.get(f'{url}/api/kernels', params={'token': token}, timeout=5).json():
                    httpx.delete(f'{url}/api/kernels/{k["id"]}', params={'token': token}, timeout=20)
            except (httpx.HTTPError, ValueError): pass
            p.send_signal(signal.SIGTERM)
            try: p.wait(30)
            except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait(10)
            log.close()

def local_only(route):
    "Let requests to 127.0.0.1 through; refuse the rest."
    route.continue_() if urlparse(route.request.url).hostname == '127.0.0.1' else route.abort()

LAYOUT = '''() => {
  const dash = document.querySelector('.qwen-dashboard');
  const box = el => { const r = el.getBoundingClientRect(); return {x: r.x, y: r.y, w: r.width, h: r.height}; };
  const shown = el => el.offsetParent !== null && el.getBoundingClientRect().width > 0;
  const labels = [...dash.querySelectorAll('.widget-label')].filter(shown).filter(l => l.textContent.trim());
  return {
    dash: box(dash), controls: box(dash.querySelector('.qwen-dash-controls')), top: box(dash.querySelector('.qwen-dash-top')),
    picture: box(dash.querySelector('.qwen-dash-picture')),
    cut: labels.filter(l => l.scrollWidth > l.clientWidth).map(l => `${l.textContent} (${l.scrollWidth} > ${l.clientWidth})`),
    labels: labels.map(l => l.textContent.trim()),
    broken: [...document.querySelectorAll('.jp-Notebook img')].filter(shown).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.outerHTML.slice(0, 120)),
    images: [...dash.querySelectorAll('img')].filter(shown).length,
  };
}'''

def overlap(a:dict, b:dict) -> bool:
    "Whether two boxes share any area."
    return a['x'] < b['x'] + b['w'] and b['x'] < a['x'] + a['w'] and a['y'] < b['y'] + b['h'] and b['y'] < a['y'] + a['h']

def chromium(pw):
    "Headless Debian Chromium, nothing in the background."
    return pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'])

def run_notebook(b, url:str, token:str, name:str, viewport:dict):
    "Open notebook `name` in JupyterLab in a new page of browser `b` (nothing leaves 127.0.0.1), wait for its kernel and run every cell; the page."
    from playwright.sync_api import expect
    ctx = b.new_context(viewport=viewport); ctx.route('**/*', local_only)
    page = ctx.new_page()
    page.goto(f'{url}/lab/tree/{name}?token={token}', wait_until='load')
    expect(page.locator('.jp-Notebook .jp-Cell').first).to_be_visible(timeout=60_000)
    page.wait_for_function('() => window.jupyterapp && window.jupyterapp.shell.currentWidget '
                           '&& window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel', timeout=60_000)
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    return page

def open_tab(b, url, token, name:str, tab:str, view:str):
    "Run notebook `name` (a dashboard) in JupyterLab and open its tab `tab`; (page, dashboard, the tab's view by CSS class `view`)."
    from playwright.sync_api import expect
    page = run_notebook(b, url, token, name, {'width': 1400, 'height': 1500})
    dash = page.locator('.qwen-dashboard')
    expect(dash).to_be_visible(timeout=120_000)
    dash.locator('.lm-TabBar-tab', has_text=tab).click()
    found = dash.locator(view)
    expect(found).to_be_visible(timeout=10_000)
    return page, dash, found

def test_dashboard_in_jupyterlab():
    "Open a notebook in JupyterLab, run it on a live kernel, press Run on the dashboard: the picture shows below the controls, labels whole."
    from playwright.sync_api import sync_playwright, expect
    SHOT.parent.mkdir(parents=True, exist_ok=True)
    with jupyter_lab() as (url, token), sync_playwright() as pw:
        b = chromium(pw)
        try:
            page = run_notebook(b, url, token, 'dashboard.ipynb', {'width': 1400, 'height': 2000})
            dash = page.locator('.qwen-dashboard')
            expect(dash).to_be_visible(timeout=90_000)
            before = page.evaluate(LAYOUT)
            assert before['images'] == 0 and not before['broken'], before  # no picture yet: none shown, none broken
            with page.expect_file_chooser() as chooser: dash.locator('.widget-upload').click()
            chooser.value.set_files(str(CAKES))
            expect(dash.locator('.widget-upload')).to_contain_text('1', timeout=10_000)
            target = dash.locator('.qwen-dash-controls .widget-text', has_text='What to find').locator('input')
            target.fill('cake'); target.press('Enter')
            dash.get_by_role('button', name='Run').click()
            picture = dash.locator('.qwen-dash-picture')
            expect(picture).to_be_visible(timeout=60_000)
            page.wait_for_function("() => { const i = document.querySelector('.qwen-dash-picture'); return i.complete && i.naturalWidth > 0; }", timeout=30_000)
            expect(dash.locator('.widget-html pre')).to_contain_text('"task": "spatial"', timeout=30_000)
            dash.evaluate('d => d.scrollIntoView()'); page.wait_for_timeout(300)
            page.screenshot(path=str(SHOT))
            after = page.evaluate(LAYOUT)
        finally: b.close()
    assert {'Temperature', 'Max tokens', 'What to find', 'Quantization', 'Compare: model'} <= set(after['labels']), after['labels']
    assert not after['cut'], f"labels cut short: {after['cut']}"
    assert not after['broken'], f"broken images: {after['broken']}"
    pic, controls = after['picture'], after['controls']
    assert pic['w'] > 100 and pic['h'] > 100, after
    assert not overlap(pic, controls) and not overlap(pic, after['top']), after
    assert pic['x'] >= after['dash']['x'] - 1 and pic['x'] + pic['w'] <= after['dash']['x'] + after['dash']['w'] + 1, after  # no wider than the dashboard
    assert SHOT.stat().st_size > 20_000

def test_dataset_view_in_jupyterlab():
    "In JupyterLab, the dashboard's Datasets tab picks six synthetic shapes from the folder, runs and scores them: the gallery shows the six worst first, and Open shows one in the Task tab."
    from playwright.sync_api import sync_playwright, expect
    DATASET_SHOT.parent.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(cells=DATASET_CELLS, name='datasets.ipynb') as (url, token), sync_playwright() as pw:
        b = chromium(pw)
        try:
            page, dash, view = open_tab(b, url, token, 'datasets.ipynb', 'Datasets', '.qwen-dataset-view')
            view.locator('.widget-dropdown', has_text='Found').locator('select').select_option('data/shapes.jsonl')
            expect(view.locator('.qwen-ds-message')).to_have_text('6 records: spatial/detect ×6', timeout=30_000)
            view.get_by_role('button', name='Run', exact=True).click()
            expect(view.locator('.qwen-ds-status')).to_contain_text('6 done, 0 failed, 0 skipped', timeout=120_000)
            view.get_by_role('button', name='Score', exact=True).click()
            expect(view.locator('.qwen-ds-item')).to_have_count(6, timeout=60_000)
            expect(view.locator('.qwen-ds-table table')).to_contain_text('spatial/detect', timeout=10_000)
            page.wait_for_function("() => [...document.querySelectorAll('.qwen-ds-item img')].every(i => i.complete && i.naturalWidth > 0)", timeout=30_000)
            scores = [float(t) for t in view.locator('.qwen-ds-score').all_inner_texts()]
            ids = view.locator('.qwen-ds-id').all_inner_texts()
            dash.evaluate('d => d.scrollIntoView()'); page.wait_for_timeout(300)
            page.screenshot(path=str(DATASET_SHOT))
            view.locator('.qwen-ds-item').first.get_by_role('button', name='Open').click()
            expect(dash.locator('.qwen-dash-picture')).to_be_visible(timeout=30_000)  # the Task tab, showing the item
            expect(dash.locator('.qwen-dash-notice')).to_contain_text(f'{ids[0]}: score', timeout=10_000)
        finally: b.close()
    assert len(scores) == 6 and scores == sorted(scores), scores
    assert sorted(ids) == [f'shapes-{i:05d}' for i in range(6)], ids
    assert DATASET_SHOT.stat().st_size > 20_000

def test_finetune_view_in_jupyterlab():
    "In JupyterLab, the dashboard's Fine-tune tab trains LoRA on synthetic shapes: the status follows the steps to done, the curve is drawn, and Before / after scores the held-out records with both models."
    from playwright.sync_api import sync_playwright, expect
    FINETUNE_SHOT.parent.mkdir(parents=True, exist_ok=True)
    with jupyter_lab(cells=FINETUNE_CELLS, name='finetune.ipynb') as (url, token), sync_playwright() as pw:
        b = chromium(pw)
        try:
            page, dash, view = open_tab(b, url, token, 'finetune.ipynb', 'Fine-tune', '.qwen-finetune-view')
            for label, value in (('Dataset', 'data/shapes.jsonl'), ('Run folder', 'runs/ft'), ('Steps', '8'), ('Learning rate', '0.003'), ('Batch size', '2')):
                box = view.locator('.widget-inline-hbox', has_text=label).locator('input').first
                box.fill(value); box.press('Enter')
            view.get_by_role('button', name='Start', exact=True).click()
            expect(view.locator('.qwen-ft-status')).to_contain_text('done: the model is in runs/ft/adapter', timeout=240_000)
            page.wait_for_function("() => { const i = document.querySelector('.qwen-ft-curve'); return i && i.complete && i.naturalWidth > 0; }", timeout=30_000)
            status = view.locator('.qwen-ft-status').inner_text()
            view.get_by_role('button', name='Before / after', exact=True).click()
            expect(view.locator('.qwen-ft-status')).to_contain_text('held-out score: before', timeout=120_000)
            dash.evaluate('d => d.scrollIntoView()'); page.wait_for_timeout(300)
            page.screenshot(path=str(FINETUNE_SHOT))
        finally: b.close()
    assert status.startswith('step 8 of 8 · loss '), status
    assert FINETUNE_SHOT.stat().st_size > 20_000
