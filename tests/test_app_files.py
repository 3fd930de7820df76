"""The app reads and serves only the files it was sent. On a real `qwen-vl serve`, without keys and with a key holder
signed in, every app function that takes a file is sent server paths (`/etc/passwd`, the server's environment, a file
outside Gradio's upload folder) through Gradio's queue and its direct route: each is refused with Gradio's reason, and
no answer nor any file URL in it holds their content. An image sent as an upload still goes through."""
import json, re, secrets
from pathlib import Path
import httpx, pytest
from conftest import serve_tiny
from qwen_vl.security import hash_key, key_id

ROOT = Path(__file__).resolve().parent.parent
CAKES = ROOT/'reference/qwen25vl-cookbooks/assets/spatial_understanding/cakes.png'
CANARY = 'canary-' + secrets.token_hex(8)  # in the server's environment, as a real key would be
KEY, ADMIN = 'files-test-key', 'files-admin-key'
FILE_INPUTS = {'File', 'Video', 'Image', 'Chatbot', 'Multimodaltextbox'}

@pytest.fixture(scope='module', params=['no keys', 'key holder'])
def app(request, tmp_path_factory):
    log = tmp_path_factory.mktemp('logs')/'server.log'  # a file, not a pipe: nobody reads a pipe, and a full one stalls the server
    env = {'QWEN_VL_REMOTE_API_KEY': CANARY, 'QWEN_MAX_NEW_TOKENS': '2', 'QWEN_ADMIN_KEYS': json.dumps([ADMIN])}
    if request.param == 'key holder': env['QWEN_API_KEYS'] = json.dumps([KEY])
    with serve_tiny(env=env, log=log, timeout=120) as (url, p), httpx.Client(base_url=url, timeout=60) as c:
        if request.param == 'key holder':
            assert c.get('/ui/config').status_code == 401
            assert c.post('/ui/login', data={'username': 'me', 'password': KEY}).status_code == 200
        yield c, p
    assert CANARY not in log.read_text()

def file_functions(c:httpx.Client) -> dict[str, list]:
    "The app's API functions that take a file (or a chat history, which holds files), with their parameters."
    info = c.get('/ui/gradio_api/info').json()['named_endpoints']
    return {name.lstrip('/'): ps['parameters'] for name, ps in info.items() if any(p['component'] in FILE_INPUTS for p in ps['parameters'])}

def payload(params:list, path:str) -> list:
    "Inputs for a function: `path` as a file wherever it takes one, the API's examples elsewhere."
    fd = {'path': path, 'meta': {'_type': 'gradio.FileData'}, 'orig_name': 'photo.png'}
    shape = {'File': fd, 'Video': fd, 'Image': fd, 'Chatbot': [{'role': 'user', 'content': [{'type': 'file', 'file': fd}]}],
             'Multimodaltextbox': {'text': 'What is this?', 'files': [fd]}}
    return [shape.get(p['component'], p.get('example_input')) for p in params]

def call(c:httpx.Client, fn:str, data:list) -> str:
    "Run `fn` through Gradio's queue (`/call`); its event stream."
    r = c.post(f'/ui/gradio_api/call/{fn}', json={'data': data}); r.raise_for_status()
    return c.get(f'/ui/gradio_api/call/{fn}/{r.json()["event_id"]}').text

def with_files(c:httpx.Client, text:str) -> str:
    "`text` and the content of every Gradio file URL in it."
    urls = set(re.findall(r'/gradio_api/file=[^"\s\\]+', text))
    return text + ''.join(c.get('/ui' + u).text for u in urls)

def test_server_files_are_refused(app, tmp_path):
    c, p = app
    notes = tmp_path/'notes.png'; notes.write_text(f'not uploaded: {CANARY}')
    fns = file_functions(c)
    assert {'_send', '_regen', '_run'} <= set(fns) and len(fns) >= 10, sorted(fns)
    for path, why in [('/etc/passwd', 'blocked_paths'), ('/proc/self/environ', 'blocked_paths'),
                      (f'/proc/{p.pid}/environ', 'blocked_paths'), (str(notes), 'not uploaded by a user')]:
        outs = {fn: call(c, fn, payload(params, path)) for fn, params in fns.items()}
        seen = with_files(c, ''.join(outs.values()))
        assert CANARY not in seen and 'root:x:0:0' not in seen, path
        for fn, out in outs.items(): assert 'event: error' in out and f'Cannot move {path}' in out and why in out, (fn, path, out[:500])
        for fn in ('_send', '_regen'):  # the direct route, without the queue
            r = c.post(f'/ui/gradio_api/run/{fn}', json={'data': payload(fns[fn], path)})
            assert r.status_code == 500 and why in r.json()['error'] and CANARY not in with_files(c, r.text), (fn, r.text[:500])

def test_an_upload_still_goes_through(app):
    c, _ = app
    up = c.post('/ui/gradio_api/upload', files={'files': ('cakes.png', CAKES.read_bytes(), 'image/png')})
    assert up.status_code == 200, up.text
    out = call(c, '_regen', payload(file_functions(c)['_regen'], up.json()[0]))
    assert 'event: complete' in out, out[-500:]
    url = re.search(r'/gradio_api/file=[^"\s\\]+cakes\.png', out).group()
    assert c.get('/ui' + url).content == CAKES.read_bytes()
    usage = c.get('/v1/admin/usage', headers={'Authorization': f'Bearer {ADMIN}'}).json()  # the app's answer counts once, under its caller
    who = {r['who'] for r in usage['by_who']}
    assert who in ({f'key:{key_id(hash_key(KEY))}'}, {'ip:127.0.0.1'}), usage  # the signed-in key, or the address without keys; never 'notebook'
    chat = {r['task']: r for r in usage['by_task']}['chat']
    assert (chat['requests'], chat['ok'], chat['images']) == (1, 1, 1) and 1 <= chat['completion_tokens'] <= 2, chat
