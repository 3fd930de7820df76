"""What gets in, against real servers: a full queue refuses before any media is decoded; request headers and bodies
within their time and size limits (slowloris, huge or endless bodies); `/healthz` answers with every worker thread busy."""
import base64, io, json, socket, time
from concurrent.futures import ThreadPoolExecutor
import httpx, psutil, pytest
from PIL import Image
from conftest import serve_tiny, wait_until
from qwen_vl.api import create_app, serve_in_thread
from qwen_vl.config import load_settings
from qwen_vl.media import MediaResolver, RequestFiles
from qwen_vl.service import InferenceService

def _png(w, h) -> bytes:
    b = io.BytesIO(); Image.new('RGB', (w, h), 'red').save(b, 'PNG'); return b.getvalue()

def _url(data:bytes) -> str: return 'data:image/png;base64,' + base64.b64encode(data).decode()

def _msgs(content): return [{'role': 'user', 'content': content}]

@pytest.fixture(scope='module')
def one_slot(tmp_path_factory):
    "A tiny server with one generation slot and no waiting line, and its own temp folder."
    temp = tmp_path_factory.mktemp('admission')
    svc = InferenceService(load_settings(model='tiny', concurrency=1, queue_size=0, cache_size=0, temp_dir=temp,
                                         max_decoded_mb=10_000)).start(background=False)
    srv = serve_in_thread(create_app(svc))
    with httpx.Client(base_url=srv.url, timeout=120) as http: yield http, svc, temp
    srv.stop()

def test_a_full_queue_refuses_before_decoding(one_slot):
    """With the only slot taken, requests with 8 images of 25 megapixels each are refused at once — chat, streamed chat,
    task as JSON, task as upload — instead of after decoding them (3.5 s here); bad media give their place back."""
    http, svc, temp = one_slot
    big = _png(5000, 5000)
    with RequestFiles(svc.settings) as files:  # what decoding these images costs
        t = time.perf_counter(); media = MediaResolver(svc.settings, files)
        for _ in range(8): media.image(_url(big))
        decode_s = time.perf_counter() - t
    assert decode_s > 1.0, decode_s
    parts = [{'type': 'image_url', 'image_url': {'url': _url(big)}}] * 8 + [{'type': 'text', 'text': 'What is this?'}]
    asks = {
        'chat': lambda: http.post('/v1/chat/completions', json={'messages': _msgs(parts), 'max_tokens': 2}),
        'chat stream': lambda: http.post('/v1/chat/completions', json={'messages': _msgs(parts), 'max_tokens': 2, 'stream': True}),
        'task JSON': lambda: http.post('/v1/tasks/recognition', json={'images': [_url(big)] * 8, 'generation': {'max_new_tokens': 2}}),
        'task upload': lambda: http.post('/v1/tasks/recognition', files=[('images', (f'{i}.png', big, 'image/png')) for i in range(8)],
                                         data={'request': '{"generation": {"max_new_tokens": 2}}'}),
    }
    with http.stream('POST', '/v1/chat/completions', json={'messages': _msgs('talk'), 'stream': True, 'max_tokens': 30000, 'min_tokens': 30000}) as r:
        lines = r.iter_lines(); next(lines); next(lines); next(lines)  # generating: it holds the only slot
        assert svc.status()['running'] == 1
        took = {}
        for name, ask in asks.items():
            t = time.perf_counter(); resp = ask(); took[name] = time.perf_counter() - t
            assert resp.status_code == 429, (name, resp.text)
            assert resp.json()['error']['code'] == 'queue_full' and resp.headers['retry-after'] == '2'
        print(f'429 latency with 8 x 25 MP images: {took} (decoding them: {decode_s:.2f} s)')
        assert max(took.values()) < min(0.5, decode_s / 2), took
    wait_until(lambda: svc.busy == 0, 20)
    bad = http.post('/v1/chat/completions', json={'messages': _msgs([{'type': 'image_url', 'image_url': {'url': _url(b'not a png')}}])})
    assert bad.status_code == 415, bad.text
    assert svc.busy == 0  # the failed request gave its place back: the next one is served
    r = http.post('/v1/tasks/recognition', json={'images': [_url(_png(56, 56))], 'generation': {'max_new_tokens': 2}})
    assert r.status_code == 200, r.text  # the task's generation ran in its request's place (no second place exists)
    assert svc.busy == 0 and list(temp.iterdir()) == []

def test_healthz_answers_with_every_worker_thread_busy(tmp_path):
    "60 requests wait for the one slot, holding all of the server's worker threads: `/healthz` still answers at once."
    svc = InferenceService(load_settings(model='tiny', concurrency=1, queue_size=100, cache_size=0, temp_dir=tmp_path)).start(background=False)
    srv = serve_in_thread(create_app(svc))
    ask = lambda i: httpx.post(srv.url + '/v1/chat/completions', json={'messages': _msgs(f'story {i}'), 'max_tokens': 30000, 'min_tokens': 30000},
                               timeout=120).status_code
    try:
        with ThreadPoolExecutor(60) as ex:
            jobs = [ex.submit(ask, i) for i in range(60)]
            wait_until(lambda: svc.busy >= 40, 20)
            time.sleep(1)
            with pytest.raises(httpx.ReadTimeout):  # the thread pool is full: a route that needs a thread waits
                httpx.get(srv.url + '/v1/models', timeout=1)
            seen = []
            for _ in range(10):
                t = time.perf_counter(); r = httpx.get(srv.url + '/healthz', timeout=5); seen.append(time.perf_counter() - t)
                assert r.status_code == 200
            print(f'/healthz with {svc.busy} requests queued: max {max(seen):.3f} s')
            assert max(seen) < 1, seen
            svc.abort_all()  # end them all
            codes = [j.result() for j in jobs]
        assert set(codes) == {503}, codes
    finally: srv.stop()

@pytest.fixture(scope='module')
def limited(tmp_path_factory):
    "`qwen-vl serve --model tiny` with short header and body timeouts and small upload limits."
    env = {'QWEN_HEADER_TIMEOUT': '2', 'QWEN_BODY_TIMEOUT': '5', 'QWEN_MAX_IMAGES': '2', 'QWEN_MAX_IMAGE_MB': '5', 'QWEN_MAX_VIDEOS': '0',
           'QWEN_VL_TEMP_DIR': str(tmp_path_factory.mktemp('limited'))}
    with serve_tiny('--no-ui', env=env) as (url, p):
        assert httpx.post(url + '/v1/chat/completions', json={'messages': _msgs('warm up'), 'max_tokens': 2}, timeout=60).status_code == 200
        yield url, psutil.Process(p.pid)

def _refused(r, status, code, *words):
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()['error']
    assert set(err) == {'message', 'type', 'param', 'code'} and err['code'] == code, err
    assert all(w in err['message'] for w in words), err['message']

def test_a_huge_json_body_is_refused_unread(limited):
    "200 MB of JSON: 413 from its Content-Length, and the server's memory doesn't grow (it was buffered whole, +600 MB)."
    url, proc = limited
    body = b'{"messages": [{"role": "user", "content": "' + b'a' * 200_000_000 + b'"}]}'
    rss = proc.memory_info().rss
    t = time.perf_counter()
    r = httpx.post(url + '/v1/chat/completions', content=body, headers={'content-type': 'application/json'}, timeout=60)
    took = time.perf_counter() - t
    _refused(r, 413, 'body_too_large', '200.0 MB', 'the limit is 100 MB', 'QWEN_MAX_BODY_MB')
    growth = (proc.memory_info().rss - rss) / 1e6
    print(f'200 MB JSON body: 413 in {took:.2f} s, server memory +{growth:.0f} MB')
    assert growth < 50, growth

def test_a_chunked_body_is_refused_once_past_the_limit(limited):
    "Without a Content-Length, the body is counted as it arrives: 413 once it passes 100 MB; the rest is never parsed or kept."
    url, proc = limited
    sent = [0]
    def chunks():
        for _ in range(300):
            sent[0] += 1_000_000; yield b'a' * 1_000_000
    rss = proc.memory_info().rss
    try: r = httpx.post(url + '/v1/chat/completions', content=chunks(), headers={'content-type': 'application/json'}, timeout=60)
    except httpx.HTTPError as e: pytest.fail(f'no answer: {e!r} after {sent[0] / 1e6:.0f} MB')
    _refused(r, 413, 'body_too_large', 'passed the limit of 100 MB')
    growth = (proc.memory_info().rss - rss) / 1e6
    print(f'300 MB chunked body: server memory +{growth:.0f} MB')
    assert growth < 200, growth  # up to the limit is read (and let go); the whole body, parsed, took 3 times its size

def test_uploads_are_bounded_by_the_file_limits(limited):
    url, proc = limited
    r = httpx.post(url + '/v1/tasks/recognition', files=[('images', ('a.png', b'\0' * 12_000_000, 'image/png'))], timeout=60)
    _refused(r, 413, 'body_too_large', 'the limit is 11 MB', '2 images of up to 5 MB', 'QWEN_MAX_IMAGES')
    png = _png(56, 56)
    r = httpx.post(url + '/v1/tasks/recognition', files=[('images', (f'{i}.png', png, 'image/png')) for i in range(3)], timeout=60)
    _refused(r, 400, 'invalid_input', 'form was refused', 'Maximum number of files is 2', 'up to 2 images and 0 videos')
    r = httpx.post(url + '/v1/tasks/recognition', files=[('images', ('a.png', png, 'image/png'))], data={'request': '{"generation": {"max_new_tokens": 1}}'},
                   timeout=60)
    assert r.status_code == 200, r.text

def _raw(url) -> socket.socket:
    host, port = url.removeprefix('http://').split(':')
    s = socket.create_connection((host, int(port))); s.settimeout(30); return s

def test_a_slow_body_gets_408(limited):
    url, proc = limited
    s = _raw(url)
    s.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"messages": ')
    t = time.perf_counter()
    data = s.recv(65536)
    took = time.perf_counter() - t
    while b'\r\n\r\n' not in data or len(data.partition(b'\r\n\r\n')[2]) < int(data.lower().split(b'content-length: ')[1].split(b'\r\n')[0]):
        data += s.recv(65536)
    head, _, body = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 408'), head
    err = json.loads(body)['error']
    assert err['code'] == 'body_timeout' and 'not received within 5 s' in err['message'] and 'QWEN_BODY_TIMEOUT' in err['message'], err
    assert 4.5 < took < 7, took
    s.close()

def test_slowloris_connections_are_closed(limited):
    """30 connections dribbling their headers, and one idle: all closed after the 2 s header timeout (they stayed open 40 s+);
    a connection kept alive after an answer gets the same time for its next request's headers; the server answers meanwhile."""
    url, proc = limited
    socks = [_raw(url) for _ in range(30)]
    idle, kept = _raw(url), _raw(url)
    kept.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    assert kept.recv(65536).startswith(b'HTTP/1.1 200')
    for s in socks: s.sendall(b'GET /healthz HTTP/1.1\r\n'); s.setblocking(False)
    kept.sendall(b'GET /healthz HTTP/1.1\r\n'); kept.setblocking(False)
    t0, open_ = time.perf_counter(), set(socks) | {kept}
    while open_ and time.perf_counter() - t0 < 10:
        for s in list(open_):
            try:
                if s.recv(100) == b'': open_.discard(s); continue
            except BlockingIOError: pass
            except OSError: open_.discard(s); continue
            try: s.send(b'X')  # one byte of a header at a time
            except OSError: open_.discard(s)
        assert httpx.get(url + '/healthz', timeout=5).status_code == 200
        time.sleep(0.25)
    took = time.perf_counter() - t0
    print(f'31 slowloris connections closed after {took:.1f} s')
    assert not open_ and took < 4, (len(open_), took)
    assert idle.recv(100) == b''  # the idle one, too
    for s in socks + [idle, kept]: s.close()
