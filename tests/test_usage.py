"""Usage per API key on a real server: two keys' requests, refusals and tokens as `GET /v1/admin/usage` reports them to the
admin key (never the keys themselves); tokens count against the per-minute budget with the audit log off too."""
import base64, json
import httpx, pytest
from pathlib import Path
from PIL import Image
from qwen_vl.api import create_app, serve_in_thread
from qwen_vl.config import load_settings
from qwen_vl.security import hash_key, key_id
from qwen_vl.service import InferenceService

KEYS = {'alice': 'k-alice-7f3e91', 'bob': 'k-bob-2c84d0', 'boss': 'k-boss-55aa10'}
H = {name: {'Authorization': f'Bearer {k}'} for name, k in KEYS.items()}

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    svc = InferenceService(load_settings(model='tiny', api_keys=[hash_key(KEYS['alice']), KEYS['bob']], admin_keys=[hash_key(KEYS['boss'])],
                                         cache_size=0, audit_log=False)).start(background=False)
    srv = serve_in_thread(create_app(svc))
    try: yield srv.url, svc
    finally: srv.stop()

def png_url(tmp:Path) -> str:
    Image.new('RGB', (64, 48), 'red').save(tmp/'red.png')
    return 'data:image/png;base64,' + base64.b64encode((tmp/'red.png').read_bytes()).decode()

def test_usage_per_key(server, tmp_path):
    url, svc = server
    chat = lambda h, n: httpx.post(url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': n}, headers=h, timeout=120)
    a1, a2 = chat(H['alice'], 2), chat(H['alice'], 3)
    a3 = httpx.post(url + '/v1/tasks/ocr', json={'images': [png_url(tmp_path)], 'generation': {'max_new_tokens': 2}}, headers=H['alice'], timeout=120)
    b1 = chat(H['bob'], 4)
    b_bad = httpx.post(url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': 'hi'}], 'temperature': 7}, headers=H['bob'])
    nobody = chat({'Authorization': 'Bearer k-alice-7f3e9'}, 2)  # one character short: no key
    assert [r.status_code for r in (a1, a2, a3, b1, b_bad, nobody)] == [200, 200, 200, 200, 400, 401]
    get = lambda h: httpx.get(url + '/v1/admin/usage', headers=h, timeout=30)
    assert get({}).status_code == 401 and get({'Authorization': 'Bearer wrong'}).status_code == 401
    r = get(H['alice'])
    assert r.status_code == 403 and r.json()['error']['code'] == 'admin_key_required' and 'needs an admin key' in r.json()['error']['message']
    r = get(H['boss'])
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {'since', 'by_who', 'by_task', 'total'}
    who = {row['who']: row for row in body['by_who']}
    alice, bob = who[f"key:{key_id(hash_key(KEYS['alice']))}"], who[f"key:{key_id(hash_key(KEYS['bob']))}"]
    used = lambda rs, k: sum(x.json()['usage'][k] for x in rs)
    assert (alice['requests'], alice['ok'], alice['refused'], alice['images']) == (4, 3, 1, 1)  # and the 403 above
    assert alice['prompt_tokens'] == used([a1, a2, a3], 'prompt_tokens') and alice['completion_tokens'] == used([a1, a2, a3], 'completion_tokens') == 7
    assert alice['total_tokens'] == alice['prompt_tokens'] + alice['completion_tokens']
    assert (bob['requests'], bob['ok'], bob['refused'], bob['error']) == (2, 1, 1, 0)
    assert (bob['prompt_tokens'], bob['completion_tokens']) == (b1.json()['usage']['prompt_tokens'], 4)
    assert alice['latency_p50_s'] > 0 and alice['latency_p95_s'] >= alice['latency_p50_s']
    assert who['anonymous']['refused'] == 3 and who['anonymous']['total_tokens'] == 0  # the short key and two reads without a valid key
    assert set(who) == {alice['who'], bob['who'], 'anonymous'}  # no `notebook` row: the API's generations count once, under their key
    tasks = {row['task']: row for row in body['by_task']}
    assert (tasks['ocr']['requests'], tasks['ocr']['images'], tasks['chat']['ok']) == (1, 1, 3)
    assert body['total']['requests'] == sum(row['requests'] for row in body['by_who']) == 4 + 2 + 3
    text = json.dumps(body)
    assert all(k not in text for k in KEYS.values()) and hash_key(KEYS['alice'])[7:] not in text  # neither the keys nor their hashes
    assert svc.usage.table()[0]['who'] == alice['who']  # the same numbers in the service, for the dashboard

def test_token_limit_with_the_audit_log_off():
    "With the audit log off, a request's tokens still count against its key's tokens per minute, and its reservation is given back."
    svc = InferenceService(load_settings(model='tiny', api_keys=['k-1'], rate_limit_tpm=60, cache_size=0, audit_log=False)).start(background=False)
    srv = serve_in_thread(create_app(svc))
    try:
        ask = lambda: httpx.post(srv.url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 2},
                                 headers={'Authorization': 'Bearer k-1'}, timeout=60)
        rs = [ask() for _ in range(4)]
        codes = [r.status_code for r in rs]
        spent = sum(r.json()['usage']['total_tokens'] for r in rs if r.status_code == 200)
        assert codes[0] == 200 and codes[-1] == 429 and codes == sorted(codes), codes
        assert 0 < spent <= 60 + max(r.json()['usage']['total_tokens'] for r in rs if r.status_code == 200)
        wait = int(rs[-1].headers['retry-after'])
        assert wait >= 50, (wait, rs[-1].json())  # waiting for the spent tokens to be a minute old, not for a reservation never given back
        row = svc.usage.table()[0]
        assert (row['requests'], row['ok'], row['refused'], row['total_tokens']) == (4, codes.count(200), codes.count(429), spent)
    finally: srv.stop()
