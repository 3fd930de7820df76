"""Access control on a real `qwen-vl serve`: keys configured as hashes made by `qwen-vl hash-key`, per-key limits answered
with 429 + Retry-After, one JSON audit line per request without content, CORS off by default."""
import json, subprocess, sys
from pathlib import Path
import httpx, pytest
from conftest import serve_tiny
from qwen_vl.api import create_app, serve_in_thread
from qwen_vl.config import load_settings
from qwen_vl.security import hash_key, key_id
from qwen_vl.service import InferenceService

EXE = str(Path(sys.executable).parent/'qwen-vl')
SECRET = 'the launch code is 0000'

def hash_with_cli(key:str) -> str:
    p = subprocess.run([EXE, 'hash-key'], input=key + '\n', capture_output=True, text=True, timeout=60)  # from stdin: not in shell history
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    log = tmp_path_factory.mktemp('logs')/'server.log'
    entry = hash_with_cli('team-a-key')
    assert entry == hash_key('team-a-key')
    env = dict(QWEN_API_KEYS=json.dumps([entry, 'plain-dev-key']), QWEN_RATE_LIMIT_RPM='4', LOG_FORMAT='json', LOG_LEVEL='WARNING', QWEN_MAX_NEW_TOKENS='2')
    with serve_tiny('--no-ui', env=env, log=log, timeout=120) as (url, _): yield url, log

def audit_lines(log:Path) -> list[dict]:
    return [l['audit'] for l in (json.loads(x) for x in log.read_text().splitlines() if x.startswith('{')) if l.get('logger') == 'qwen_vl.audit']

def test_hashed_and_plain_keys(server):
    url, log = server
    ask = lambda key: httpx.post(url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': SECRET}]},
                                 headers={'Authorization': f'Bearer {key}'} if key else {}, timeout=60)
    assert ask('team-a-key').status_code == 200
    assert [ask(k).status_code for k in (None, 'team-a-ke', 'TEAM-A-KEY', hash_key('team-a-key'))] == [401] * 4
    assert httpx.get(url + '/healthz').status_code == 200
    assert httpx.get(url + '/metrics').status_code == 401
    lines = audit_lines(log)
    mine = [l for l in lines if l['key_id'] == key_id(hash_key('team-a-key'))]
    assert mine and mine[0]['route'] == '/v1/chat/completions' and mine[0]['status'] == 200 and mine[0]['completion_tokens'] == 2
    assert sum(l['status'] == 401 for l in lines) >= 4
    assert SECRET not in log.read_text() and 'team-a-key' not in log.read_text()  # neither content nor keys are logged

def test_rate_limit_per_key(server):
    url, log = server
    get = lambda key: httpx.get(url + '/v1/models', headers={'Authorization': f'Bearer {key}'}, timeout=30)
    codes = [get('plain-dev-key').status_code for _ in range(5)]
    assert codes == [200, 200, 200, 200, 429], codes  # 4 a minute (the fixture's /readyz polls don't count)
    r = get('plain-dev-key')
    assert r.status_code == 429 and 50 <= int(r.headers['retry-after']) <= 60 and '4 requests per minute' in r.json()['error']['message']
    assert httpx.get(url + '/readyz', headers={'Authorization': 'Bearer plain-dev-key'}).status_code == 200  # probes are not limited
    assert get('team-a-key').status_code == 200  # another key has its own minute

def test_cors_is_off_by_default(server):
    url, _ = server
    pre = {'Origin': 'https://somewhere.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization'}
    r = httpx.options(url + '/v1/chat/completions', headers=pre)
    assert r.status_code >= 400 and 'access-control-allow-origin' not in r.headers

def test_token_rate_limit():
    "Tokens per minute: requests are answered while their estimate fits beside what was spent; then they wait with Retry-After."
    svc = InferenceService(load_settings(model='tiny', rate_limit_tpm=60, cache_size=0)).start(background=False)
    srv = serve_in_thread(create_app(svc))
    try:
        ask = lambda: httpx.post(srv.url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': 'hi'}], 'max_tokens': 2}, timeout=60)
        first = ask()
        used = first.json()['usage']['total_tokens']
        assert first.status_code == 200 and 10 < used < 60
        codes = [ask().status_code for _ in range(60 // used + 1)]
        assert codes[-1] == 429 and codes == sorted(codes), (used, codes)  # answered ones first, then every one refused
        r = ask()
        assert r.status_code == 429 and int(r.headers['retry-after']) >= 50 and '60 tokens per minute' in r.json()['error']['message']
    finally: srv.stop()

def test_parallel_requests_share_the_token_budget():
    "Tokens per minute with 20 requests at once: each holds its estimate while it runs, so together they can't spend the budget many times over."
    import concurrent.futures as cf
    svc = InferenceService(load_settings(model='tiny', rate_limit_tpm=200, cache_size=0, concurrency=1, queue_size=32)).start(background=False)
    srv = serve_in_thread(create_app(svc))
    try:
        ask = lambda i: httpx.post(srv.url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': f'hi {i}'}], 'max_tokens': 16}, timeout=120)
        with cf.ThreadPoolExecutor(20) as ex: rs = list(ex.map(ask, range(20)))
        ok = [r.json()['usage']['total_tokens'] for r in rs if r.status_code == 200]
        refused = [r for r in rs if r.status_code == 429]
        assert ok and len(ok) + len(refused) == 20, [r.status_code for r in rs]
        assert sum(ok) <= 200 + max(ok), (sum(ok), ok)  # at most one request past the limit (it was admitted on an estimate)
        assert all('tokens of running requests count' in r.json()['error']['message'] or 'tokens per minute' in r.json()['error']['message'] for r in refused)
    finally: srv.stop()
