"""Who may change the server for everyone, on a real `qwen-vl serve` with an API key and an admin key: the admin
routes and the app's Load want the admin key, switch targets are checked before anything unloads (only tiny, 3B,
7B, hub ids and folders inside QWEN_MODELS_DIR), `/readyz` says more to the admin key only, and the app's sign-in
is limited per client address and audited without the password."""
import json, shutil, time
from pathlib import Path
import httpx, pytest
from conftest import serve_tiny
from qwen_vl.api import create_app, serve_in_thread
from qwen_vl.config import load_settings
from qwen_vl.security import hash_key, key_id
from qwen_vl.service import InferenceService
from qwen_vl.tiny import tiny_path

USER, ADMIN = 'team-key-7f3a', 'admin-key-91c2'
AS_USER, AS_ADMIN = {'Authorization': f'Bearer {USER}'}, {'Authorization': f'Bearer {ADMIN}'}

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('access')
    models = tmp/'models'; models.mkdir()
    shutil.copytree(tiny_path(), models/'my-tiny')  # a real model folder inside QWEN_MODELS_DIR
    (models/'escape').symlink_to('/etc')
    env = dict(QWEN_API_KEYS=json.dumps([USER]), QWEN_ADMIN_KEYS=json.dumps([hash_key(ADMIN)]), QWEN_MODELS_DIR=str(models),
               QWEN_LOGIN_RATE_LIMIT='3', LOG_FORMAT='json', QWEN_MAX_NEW_TOKENS='2')
    with serve_tiny(env=env, log=tmp/'server.log', timeout=180) as (url, _): yield url, tmp/'server.log', models

def audit_lines(log:Path, route:str|None=None, until=lambda lines: True) -> list[dict]:
    "The server's audit lines (of `route`), once `until` holds for them: a line is written just after its answer has gone out."
    for _ in range(50):
        lines = [l['audit'] for l in (json.loads(x) for x in log.read_text().splitlines() if x.startswith('{')) if l.get('logger') == 'qwen_vl.audit']
        lines = [l for l in lines if route in (None, l['route'])]
        if until(lines): break
        time.sleep(0.1)
    return lines

def client(url:str, address:str) -> httpx.Client:
    "A client connecting from `address` (any of 127.0.0.0/8): another client address for the server."
    return httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=address))

def still_serving(url:str, model:str='tiny'):
    "The model answers: /readyz 200, a chat 200, the admin status naming `model`."
    assert httpx.get(url + '/readyz').status_code == 200
    r = httpx.post(url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': 'still there?'}]}, headers=AS_USER, timeout=60)
    assert r.status_code == 200 and r.json()['usage']['completion_tokens'] == 2, r.text
    assert httpx.get(url + '/v1/admin/model', headers=AS_ADMIN).json()['model'] == model

def settled(url:str) -> dict:
    for _ in range(600):
        if not (st := httpx.get(url + '/v1/admin/model', headers=AS_ADMIN).json())['loading']: return st
        time.sleep(0.1)
    pytest.fail('the switch never ended')

def test_admin_routes_need_an_admin_key(server):
    url, log, _ = server
    switch = lambda h: httpx.post(url + '/v1/admin/model', json={'model': 'tiny'}, headers=h, timeout=30)
    assert [switch(h).status_code for h in ({}, {'Authorization': 'Bearer wrong'})] == [401, 401]
    for r in (switch(AS_USER), httpx.get(url + '/v1/admin/model', headers=AS_USER)):
        e = r.json()['error']
        assert r.status_code == 403 and e['type'] == 'permission_error' and e['code'] == 'admin_key_required', r.text
        assert 'needs an admin key (QWEN_ADMIN_KEYS)' in e['message'] and key_id(hash_key(USER)) in e['message']
    assert httpx.get(url + '/v1/models', headers=AS_ADMIN).status_code == 200  # an admin key is an API key too
    assert httpx.get(url + '/v1/admin/model', headers=AS_ADMIN).json()['model'] == 'tiny'
    want = {('POST', 403, key_id(hash_key(USER))), ('GET', 200, key_id(hash_key(ADMIN)))}
    mine = {(l['method'], l['status'], l['key_id']) for l in audit_lines(log, '/v1/admin/model', lambda ls: want <= {(l['method'], l['status'], l['key_id']) for l in ls})}
    assert want <= mine, mine

def test_without_admin_keys_nobody_switches():
    "A server with API keys but no admin keys, and one with no keys at all: admin actions are off, and say so."
    for keys in ([USER], []):
        svc = InferenceService(load_settings(model='tiny', api_keys=keys))  # the check comes before any model is needed
        srv = serve_in_thread(create_app(svc))
        try:
            r = httpx.post(srv.url + '/v1/admin/model', json={'model': 'tiny'}, headers=AS_USER)
            assert r.status_code == 403 and r.json()['error']['code'] == 'admin_disabled', r.text
            assert r.json()['error']['message'] == 'switching the model is an admin action, and admin actions are off until QWEN_ADMIN_KEYS is set'
        finally: srv.stop()

def test_readyz_tells_more_to_admin_keys_only(server):
    url, _, _ = server
    for h in ({}, AS_USER, {'Authorization': 'Bearer wrong'}):
        r = httpx.get(url + '/readyz', headers=h)
        assert (r.status_code, r.json()) == (200, {'status': 'ready', 'ready': True}), r.text
    full = httpx.get(url + '/readyz', headers=AS_ADMIN).json()
    assert full['status'] == 'ready' and full['model'] == 'tiny' and {'switch_error', 'load_error', 'running', 'waiting', 'queue_size'} <= set(full)

def test_sign_in_is_limited_per_address_and_audited(server):
    url, log, _ = server
    with client(url, '127.0.0.2') as c:
        codes = [c.post('/ui/login', data={'username': 'x', 'password': pw}).status_code for pw in ('wrong-password', ADMIN, USER)]
        assert codes == [400, 200, 200]
        r = c.post('/ui/login', data={'username': 'x', 'password': ADMIN})
        assert r.status_code == 429 and r.json()['error']['code'] == 'rate_limit_exceeded' and 50 <= int(r.headers['retry-after']) <= 60, r.text
        assert r.json()['error']['message'].startswith('too many sign-in attempts from 127.0.0.2: the limit is 3 a minute (QWEN_LOGIN_RATE_LIMIT)')
    with client(url, '127.0.0.3') as c:  # another address has its own minute
        assert c.post('/ui/login', data={'username': 'x', 'password': USER}).status_code == 200
    lines = [(l['status'], l['outcome'], l['key_id']) for l in audit_lines(log, '/ui/login', lambda ls: sum(l['client'] == '127.0.0.2' for l in ls) >= 4) if l['client'] == '127.0.0.2']
    assert lines == [(400, 'refused', '-'), (200, 'ok', key_id(hash_key(ADMIN))), (200, 'ok', key_id(hash_key(USER))), (429, 'refused', '-')], lines
    text = log.read_text()
    assert 'wrong-password' not in text and ADMIN not in text and USER not in text

def load(c:httpx.Client, model:str, key:str='') -> str:
    "Press Load model in the app's settings panel (through Gradio's queue): the panel's note."
    r = c.post('/ui/gradio_api/call/_load', json={'data': [model, 'none', 3136, 512*28*28, 1.0, key]}); r.raise_for_status()
    events = c.get(f'/ui/gradio_api/call/_load/{r.json()["event_id"]}').text
    assert 'event: complete' in events, events
    return json.loads(events.split('data: ')[-1])[0]

def test_loading_a_model_in_the_app_is_an_admin_action(server):
    "Signed in with the API key: Load changes nothing and says why, even under the admin's user name; the Admin key box or an admin sign-in let it through."
    url, log, _ = server
    with client(url, '127.0.0.4') as boss, client(url, '127.0.0.5') as user:
        assert boss.post('/ui/login', data={'username': 'boss', 'password': ADMIN}).status_code == 200
        assert user.post('/ui/login', data={'username': 'boss', 'password': USER}).status_code == 200  # the same name: no admin for it
        assert load(user, 'nobody/x') == '⚠️ loading a model needs an admin key (QWEN_ADMIN_KEYS): sign in with one, or type one in the Admin key box; nothing was changed'
        assert load(user, 'nobody/x', USER).endswith('the Admin key box holds none; nothing was changed')
        assert load(user, '/etc', ADMIN).startswith("⚠️ model folder '/etc' (resolved: /etc) is outside")
        st = settled(url)
        assert st['model'] == 'tiny' and st['switch_error'] is None and st['switching'] is None, st  # nothing was tried
        note = load(boss, 'nobody/x')  # the admin may: the switch starts (and offline it can fail before the note is read)
        assert note.startswith(('⏳ loading `nobody/x`', '⚠️ switching to nobody/x failed')), note
        st = settled(url)
        assert st['model'] == 'tiny' and st['switch_error'].startswith('switching to nobody/x failed'), st
    still_serving(url)
    checks = [(l['client'], l['status'], l['key_id']) for l in audit_lines(log, '/ui/admin', lambda ls: len(ls) >= 4)]
    assert checks == [('127.0.0.5', 403, key_id(hash_key(USER)))] * 2 + [('127.0.0.5', 200, key_id(hash_key(ADMIN))), ('127.0.0.4', 200, key_id(hash_key(ADMIN)))], checks

def test_switch_targets_are_checked_before_anything_unloads(server):
    "Paths outside QWEN_MODELS_DIR are refused with 400 while the model serves on; a hub id that can't load fails in the background; a folder inside loads."
    url, log, models = server
    switch = lambda model: httpx.post(url + '/v1/admin/model', json={'model': model}, headers=AS_ADMIN, timeout=30)
    for bad in ['/nonexistent', '../../etc', '/etc', str(models/'escape'), str(models/'my-tiny'/'..'/'..')]:
        r = switch(bad)
        assert r.status_code == 400 and r.json()['error']['code'] == 'invalid_input', (bad, r.text)
        assert f'is outside {models.resolve()}, the models folder (QWEN_MODELS_DIR)' in r.json()['error']['message'], r.text
        still_serving(url)
    r = switch('not a model')
    assert r.status_code == 400 and 'allowed: tiny, 3B, 7B, a hub id like Qwen/Qwen2.5-VL-7B-Instruct, or a model folder inside' in r.json()['error']['message']
    r = switch('nobody/x')  # shaped like a hub id: accepted, and fails to load offline
    assert r.status_code == 202 and r.json()['serving'] == 'tiny', r.text
    st = settled(url)
    assert st['model'] == 'tiny' and 'nobody/x' in st['switch_error'] and 'HF_HUB_OFFLINE' in st['switch_error'], st
    still_serving(url)
    r = switch(str(models/'my-tiny'))
    assert r.status_code == 202, r.text
    mine = str((models/'my-tiny').resolve())
    assert settled(url)['model'] == mine
    still_serving(url, mine)
    switched = lambda ls: [l['key_id'] for l in ls if l['method'] == 'POST' and l['status'] == 202]
    assert switched(audit_lines(log, '/v1/admin/model', lambda ls: len(switched(ls)) >= 2)) == [key_id(hash_key(ADMIN))] * 2
