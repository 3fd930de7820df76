"""SIGTERM against `qwen-vl serve --model tiny` with streams in flight: the server drains — no new requests, running ones
get `QWEN_SHUTDOWN_GRACE`, the rest end with a `shutting_down` error and `[DONE]` — removes its request files and exits 0."""
import base64, json, signal, threading, time
import httpx
from conftest import serve_tiny, wait_until
from qwen_vl.inputs import make_test_video

def _stream(url:str, body:dict, out:list, started:threading.Event):
    "POST a streamed chat request; every `data:` line into `out`."
    try:
        with httpx.stream('POST', url + '/v1/chat/completions', json={**body, 'stream': True}, timeout=120) as r:
            out.append(r.status_code)
            for line in r.iter_lines():
                if line.startswith('data: '): out.append(line.removeprefix('data: ')); started.set()
    except httpx.HTTPError as e: out.append(f'client error: {e!r}')
    finally: started.set()

def _open(url, bodies):
    outs, threads = [], []
    for body in bodies:
        out, ev = [], threading.Event()
        t = threading.Thread(target=_stream, args=(url, body, out, ev), daemon=True); t.start()
        outs.append(out); threads.append(t); assert ev.wait(60), 'no first event'
    return outs, threads

def _gauges(url) -> tuple[float, float]:
    "Requests running and waiting, from /metrics."
    m = httpx.get(url + '/metrics', timeout=5).text
    return tuple(next(float(l.split()[-1]) for l in m.splitlines() if l.startswith(f'qwen_vl:num_requests_{k}{{')) for k in ('running', 'waiting'))

def _refused_while_draining(url):
    r = httpx.post(url + '/v1/chat/completions', json={'messages': [{'role': 'user', 'content': 'new'}], 'max_tokens': 2}, timeout=10)
    assert r.status_code == 503 and r.json()['error']['code'] == 'shutting_down' and r.headers['retry-after'] == '2', r.text
    ready = httpx.get(url + '/readyz', timeout=5)
    assert ready.status_code == 503 and ready.json()['ready'] is False, ready.text  # Kubernetes takes the pod out

def test_sigterm_cuts_off_long_streams_after_the_grace(tmp_path):
    "8 endless streams (3 running, 5 waiting) and a whole answer: after a 3 s grace each ends with its error and `[DONE]`."
    temp, grace = tmp_path/'requests', 3
    env = {'QWEN_VL_TEMP_DIR': str(temp), 'QWEN_SHUTDOWN_GRACE': str(grace), 'QWEN_CONCURRENCY': '3', 'QWEN_QUEUE_SIZE': '16', 'QWEN_CACHE_SIZE': '0'}
    clip = 'data:video/mp4;base64,' + base64.b64encode(make_test_video(tmp_path/'clip.mp4').read_bytes()).decode()
    with serve_tiny(env=env, log=tmp_path/'server.log') as (url, p):
        long = {'max_tokens': 30000, 'min_tokens': 30000}
        bodies = [{'messages': [{'role': 'user', 'content': [{'type': 'video_url', 'video_url': {'url': clip}}, {'type': 'text', 'text': f'story {i}'}]
                                 if i % 3 == 0 else f'story {i}'}], **long} for i in range(8)]
        outs, threads = _open(url, bodies)
        whole = []
        tw = threading.Thread(target=lambda: whole.append(httpx.post(url + '/v1/chat/completions', timeout=120,
                                                                     json={'messages': [{'role': 'user', 'content': 'whole'}], **long})), daemon=True)
        tw.start()
        wait_until(lambda: _gauges(url) == (3, 6), 60, step=0.1)
        assert len(list(temp.iterdir())) >= 9  # a folder per request, three with a video in it
        t0 = time.perf_counter()
        p.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        _refused_while_draining(url)
        code = p.wait(grace + 15)
        took = time.perf_counter() - t0
        for t in threads + [tw]: t.join(10)
    log = (tmp_path/'server.log').read_text()
    print(f'SIGTERM with 8 endless streams and a whole answer: exit {code} after {took:.1f} s (grace {grace} s)')
    assert code == 0, log[-3000:]
    assert took < grace + 5, took
    for out in outs:
        assert out[0] == 200 and out[-1] == '[DONE]', out[-3:]
        err = json.loads(out[-2])['error']
        assert err['code'] == 'shutting_down' and err['type'] == 'service_unavailable', err
    messages = [json.loads(out[-2])['error']['message'] for out in outs]
    assert sum('cut off after' in m for m in messages) == 3 and sum('still waiting for a slot' in m for m in messages) == 5, messages
    (r,) = whole
    assert r.status_code == 503 and r.json()['error']['code'] == 'shutting_down', r.text
    assert list(temp.iterdir()) == []
    assert 'Traceback' not in log and 'drained in' in log, log[-3000:]

def test_sigterm_lets_short_streams_finish(tmp_path):
    "With a long grace, running and waiting streams all finish normally; the server exits as soon as they are done."
    temp = tmp_path/'requests'
    env = {'QWEN_VL_TEMP_DIR': str(temp), 'QWEN_SHUTDOWN_GRACE': '60', 'QWEN_CONCURRENCY': '2', 'QWEN_CACHE_SIZE': '0'}
    with serve_tiny('--no-ui', env=env) as (url, p):
        bodies = [{'messages': [{'role': 'user', 'content': f'short {i}'}], 'max_tokens': 60, 'min_tokens': 60, 'stream_options': {'include_usage': True}}
                  for i in range(4)]
        outs, threads = _open(url, bodies)
        t0 = time.perf_counter()
        p.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        _refused_while_draining(url)
        code = p.wait(60)
        took = time.perf_counter() - t0
        for t in threads: t.join(10)
    print(f'SIGTERM with 4 short streams: all finished, exit {code} after {took:.1f} s')
    assert code == 0 and took < 40, (code, took)
    for out in outs:
        assert out[0] == 200 and out[-1] == '[DONE]' and not any('"error"' in e for e in out[1:]), out[-3:]
        assert json.loads(out[-3])['choices'][0]['finish_reason'] == 'length' and json.loads(out[-2])['usage']['completion_tokens'] == 60
    assert list(temp.iterdir()) == []
