#!/usr/bin/env python
"""Load test: N concurrent clients × M requests (chat and tasks, streaming and not, images, uploads and a video) against
`qwen-vl serve --model tiny` started here, or against a running server (--url).

Prints p50/p95 latency, throughput, counts by status, the server's memory (RSS) when ready, after warm-up and after the
load, and the request files left behind; exits 1 on any 5xx, any status other than 200/429/503, a broken stream, a temp
file left, or RSS growth after warm-up beyond --max-rss-growth-mb.

    python bench/load_test.py                                  # 8 clients × 10 requests, tiny model, fresh server
    python bench/load_test.py --clients 16 --requests 100 --queue-size 32   # the longer run (nbs/hardening.md)
    python bench/load_test.py --url http://127.0.0.1:7860 --pid 1234 --temp-dir /tmp/qwen   # a running server
"""
from __future__ import annotations
import argparse, base64, io, json, os, secrets, signal, socket, statistics, subprocess, sys, tempfile, threading, time
from pathlib import Path
import httpx

ADMIN_KEY = secrets.token_urlsafe(24)  # this run's own: the server's /readyz tells it the queue

def _png(w:int, h:int, seed:int) -> bytes:
    import numpy as np
    from PIL import Image
    a = np.random.default_rng(seed).integers(0, 255, (h, w, 3), np.uint8)
    b = io.BytesIO(); Image.fromarray(a).save(b, 'PNG'); return b.getvalue()

def _video() -> bytes:
    from qwen_vl.inputs import make_test_video
    with tempfile.TemporaryDirectory() as d: return make_test_video(Path(d)/'v.mp4', frames=8, fps=4, size=(96, 64)).read_bytes()

def _url(data:bytes, mime:str) -> str: return f'data:{mime};base64,' + base64.b64encode(data).decode()

class Mix:
    "The request kinds a client cycles through; `i` makes every prompt unique so the result cache doesn't answer."
    KINDS = ['chat', 'chat_stream', 'task_ocr', 'task_spatial_upload', 'chat_video', 'task_compare', 'chat_stream_image', 'chat_stream_abandoned']
    def __init__(self, max_tokens:int):
        self.n, self.png, self.png2, self.vid = max_tokens, _png(320, 240, 1), _png(200, 300, 2), _video()
    def request(self, kind:str, i:int) -> tuple[str, dict, bool]:
        "(path, httpx keyword arguments, streaming?) of request `i` of `kind`."
        img = {'type': 'image_url', 'image_url': {'url': _url(self.png, 'image/png')}}
        text = lambda t: {'type': 'text', 'text': f'{t} (request {i})'}
        chat = lambda content, stream=False: ('/v1/chat/completions', {'json': {'messages': [{'role': 'user', 'content': content}],
                                               'max_tokens': self.n, 'stream': stream}}, stream)
        if kind == 'chat': return chat([img, text('Describe this image.')])
        if kind == 'chat_stream': return chat(f'Tell me a story (request {i}).', True)
        if kind == 'chat_stream_abandoned':  # a long answer the client walks away from after the first pieces
            path, kw, _ = chat(f'Tell me a long story (request {i}).', True); kw['json']['max_tokens'] = 4096
            return path, kw, 'abandon'
        if kind == 'chat_stream_image': return chat([img, text('What is in this picture?')], True)
        if kind == 'chat_video': return chat([{'type': 'video_url', 'video_url': {'url': _url(self.vid, 'video/mp4')}}, text('What moves?')])
        if kind == 'task_ocr':
            return '/v1/tasks/ocr', {'json': {'images': [_url(self.png, 'image/png')], 'mode': 'text', 'prompt': f'Read the text (request {i}).',
                                              'generation': {'max_new_tokens': self.n}}}, False
        if kind == 'task_spatial_upload':
            req = {'fields': {'target': f'thing {i}'}, 'generation': {'max_new_tokens': self.n}, 'draw': True,
                   'prefill': '```json\n[{"bbox_2d": [10, 20, 100, 120], "label": "thing"}]\n```'}
            return '/v1/tasks/spatial', {'files': [('images', ('photo.png', self.png, 'image/png'))], 'data': {'request': json.dumps(req)}}, False
        if kind == 'task_compare':
            return '/v1/tasks/recognition', {'json': {'images': [_url(self.png, 'image/png'), _url(self.png2, 'image/png')], 'mode': 'compare',
                                                      'prompt': f'Compare these (request {i}).', 'generation': {'max_new_tokens': self.n}}}, False
        raise ValueError(kind)

def send(http:httpx.Client, path:str, kw:dict, stream:bool|str) -> tuple[int, str]:
    "Status and outcome ('ok', 'abandoned', 'refused', 'stream_error', 'stream_cut', 'error') of one request."
    if not stream:
        r = http.post(path, **kw)
        return r.status_code, 'ok' if r.status_code == 200 else 'refused' if r.status_code in (429, 503) else 'error'
    with http.stream('POST', path, **kw) as r:
        if r.status_code != 200: r.read(); return r.status_code, 'refused' if r.status_code in (429, 503) else 'error'
        done = err = False
        if stream == 'abandon':
            events = 0
            for line in r.iter_lines():
                events += line.startswith('data: ')
                if events == 3: return 200, 'abandoned'  # leaving the block closes the connection mid-stream
            return 200, 'stream_cut'
        for line in r.iter_lines():
            if line == 'data: [DONE]': done = True
            elif line.startswith('data: ') and '"error"' in line[:20]: err = True
        return 200, 'stream_error' if err else 'ok' if done else 'stream_cut'

def rss_mb(pid:int|None) -> float|None:
    "Resident memory of process `pid` and its children, in MB."
    if not pid: return None
    import psutil
    p = psutil.Process(pid)
    return round(sum(q.memory_info().rss for q in [p, *p.children(recursive=True)]) / 1e6, 1)

def start_server(a, temp:Path) -> tuple[subprocess.Popen, str]:
    "`qwen-vl serve --model tiny --no-ui` on a free port, with its own temp folder; returns once /readyz says 200."
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    exe = str(Path(sys.executable).parent/'qwen-vl')
    env = dict(os.environ, HF_HUB_OFFLINE='1', QWEN_VL_TEMP_DIR=str(temp), QWEN_CONCURRENCY=str(a.concurrency), QWEN_QUEUE_SIZE=str(a.queue_size),
               LOG_LEVEL='WARNING', QWEN_ADMIN_KEYS=json.dumps([ADMIN_KEY]))  # /readyz shows the queue to an admin key
    log = open(temp.parent/f'{temp.name}.log', 'w')  # a file, not a pipe: a pipe nobody reads fills up and stalls the server's logging
    p = subprocess.Popen([exe, 'serve', '--model', a.model, '--no-ui', '--port', str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    p.log_path = log.name
    url, t0 = f'http://127.0.0.1:{port}', time.time()
    while time.time() - t0 < a.start_timeout:
        if p.poll() is not None: raise SystemExit(f'the server exited with {p.returncode}: {Path(log.name).read_text()[-2000:]}')
        try:
            if httpx.get(url + '/readyz', timeout=2).status_code == 200: return p, url
        except httpx.HTTPError: pass
        time.sleep(0.3)
    p.kill(); raise SystemExit(f'the server was not ready after {a.start_timeout} s')

def run(a) -> dict:
    "Run the load and return the report."
    temp = Path(a.temp_dir) if a.temp_dir else Path(tempfile.mkdtemp(prefix='qwen-vl-load-'))
    proc, url = (None, a.url.rstrip('/')) if a.url else start_server(a, temp)
    pid = proc.pid if proc else a.pid
    try:
        mix, kinds = Mix(a.max_tokens), [k for k in Mix.KINDS if not a.kinds or k in a.kinds.split(',')]
        report = {'url': url, 'clients': a.clients, 'requests_per_client': a.requests, 'max_tokens': a.max_tokens, 'kinds': kinds,
                  'rss_mb': {'ready': rss_mb(pid)}}
        with httpx.Client(base_url=url, timeout=a.timeout) as http:  # warm-up: one of each kind, one at a time
            for k in kinds:
                code, outcome = send(http, *mix.request(k, -1))
                if outcome not in ('ok', 'abandoned'): raise SystemExit(f'warm-up request {k} failed: {code} {outcome}')
        report['rss_mb']['after_warmup'] = rss_mb(pid)
        results, lock = [], threading.Lock()
        def client(c:int):
            with httpx.Client(base_url=url, timeout=a.timeout) as http:
                for j in range(a.requests):
                    kind = kinds[(c + j) % len(kinds)]
                    t = time.perf_counter()
                    try: code, outcome = send(http, *mix.request(kind, c * 10_000 + j))
                    except httpx.HTTPError as e: code, outcome = 0, f'client error: {type(e).__name__}'
                    with lock: results.append((kind, code, outcome, time.perf_counter() - t))
        samples, stop = [], threading.Event()
        def sample():  # the server's memory through the run, to tell a plateau from a climb
            while not stop.wait(0.5): samples.append(rss_mb(pid))
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(c,)) for c in range(a.clients)]
        if pid: threads.append(threading.Thread(target=sample, daemon=True))
        for t in threads: t.start()
        for t in threads[:a.clients]: t.join()
        stop.set()
        wall = time.perf_counter() - t0
        report['rss_mb'] |= {'halfway': samples[len(samples) // 2] if samples else None, 'max': max(samples, default=None),
                             'after_load': rss_mb(pid)}
        with httpx.Client(base_url=url, timeout=10) as http:
            for _ in range(50):  # abandoned streams must have given their slots back
                ready = http.get('/readyz', headers={'Authorization': f'Bearer {ADMIN_KEY}'})
                if ready.status_code != 200 or not (ready.json().get('running') or ready.json().get('waiting')): break
                time.sleep(0.1)
            report['readyz_after'], report['busy_after'] = ready.status_code, {k: ready.json().get(k) for k in ('running', 'waiting')}
    finally:
        if proc:
            proc.send_signal(signal.SIGINT)
            try: proc.wait(30)
            except subprocess.TimeoutExpired: proc.kill()
            log = Path(proc.log_path)
            audit_lines = sum('qwen_vl.audit' in l for l in log.read_text(errors='replace').splitlines())
            log.unlink()
    ok = sorted(d for _, code, outcome, d in results if outcome == 'ok')  # abandoned streams are not timed
    q = lambda p: round(ok[min(len(ok) - 1, int(p * len(ok)))], 3) if ok else None
    by_status, by_outcome = {}, {}
    for _, code, outcome, _ in results:
        by_status[str(code)] = by_status.get(str(code), 0) + 1; by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
    left = sorted(str(p.relative_to(temp)) for p in temp.rglob('*')) if temp.exists() else []
    r = report | {'requests': len(results), 'by_status': by_status, 'by_outcome': by_outcome, 'wall_s': round(wall, 2),
                  'throughput_rps': round(len(results) / wall, 2), 'answered_rps': round(len(ok) / wall, 2),
                  'latency_s': {'p50': q(0.5), 'p95': q(0.95), 'max': round(ok[-1], 3) if ok else None,
                                'mean': round(statistics.fmean(ok), 3) if ok else None},
                  'temp_files_left': left} | ({'server_audit_lines': audit_lines} if proc else {})
    rss = r['rss_mb']
    r['rss_growth_after_warmup_mb'] = round(rss['after_load'] - rss['after_warmup'], 1) if rss.get('after_load') is not None else None
    bad = [s for s in by_status if s not in ('200', '429', '503')]
    r['problems'] = ([f'statuses other than 200/429/503: {bad}'] if bad else []) + \
        ([f"broken streams: {by_outcome.get('stream_error', 0) + by_outcome.get('stream_cut', 0)}"] if by_outcome.keys() & {'stream_error', 'stream_cut'} else []) + \
        ([f'temp files left: {left[:5]}'] if left else []) + \
        ([f"RSS grew {r['rss_growth_after_warmup_mb']} MB after warm-up (limit {a.max_rss_growth_mb})"]
         if r['rss_growth_after_warmup_mb'] is not None and r['rss_growth_after_warmup_mb'] > a.max_rss_growth_mb else []) + \
        ([f"/readyz answered {r['readyz_after']} after the load"] if r['readyz_after'] != 200 else []) + \
        ([f"slots still busy after the load: {r['busy_after']}"] if any(r['busy_after'].values()) else [])
    if not a.temp_dir and not a.url: temp.rmdir() if temp.exists() and not left else None
    return r

def print_report(r:dict):
    "The report as a few readable lines."
    lat, rss = r['latency_s'], r['rss_mb']
    print(f"{r['clients']} clients × {r['requests_per_client']} requests ({', '.join(r['kinds'])}), max {r['max_tokens']} new tokens, {r['url']}")
    print(f"requests {r['requests']} in {r['wall_s']} s: {r['throughput_rps']} req/s, {r['answered_rps']} answered/s")
    print(f"by status {r['by_status']}  by outcome {r['by_outcome']}")
    print(f"latency of answered requests (s): p50 {lat['p50']}  p95 {lat['p95']}  max {lat['max']}")
    print(f"server RSS (MB): ready {rss['ready']}  after warm-up {rss['after_warmup']}  halfway {rss.get('halfway')}  "
          f"after load {rss['after_load']}  max {rss.get('max')}  (growth after warm-up {r['rss_growth_after_warmup_mb']})")
    print(f"temp files left: {len(r['temp_files_left'])}   /readyz after: {r['readyz_after']} {r['busy_after']}")
    print('OK' if not r['problems'] else 'PROBLEMS: ' + '; '.join(r['problems']), flush=True)

def main(argv=None) -> int:
    "Run, print, and exit 0 when the server held."
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--url', help='a running server (default: start `qwen-vl serve` here)')
    p.add_argument('--pid', type=int, help='with --url: the server process, for its memory')
    p.add_argument('--temp-dir', help="the server's QWEN_VL_TEMP_DIR, to check for files left (default: a fresh folder for the server started here)")
    p.add_argument('--model', default='tiny', help='model of the server started here')
    p.add_argument('--clients', type=int, default=8); p.add_argument('--requests', type=int, default=10, help='requests per client')
    p.add_argument('--max-tokens', type=int, default=8, help='new tokens per request')
    p.add_argument('--kinds', help=f"comma-separated subset of {','.join(Mix.KINDS)}")
    p.add_argument('--concurrency', type=int, default=1, help='QWEN_CONCURRENCY of the server started here')
    p.add_argument('--queue-size', type=int, default=4, help='QWEN_QUEUE_SIZE of the server started here (smaller than --clients shows 429s)')
    p.add_argument('--timeout', type=float, default=300, help='seconds per request')
    p.add_argument('--start-timeout', type=float, default=300)
    p.add_argument('--max-rss-growth-mb', type=float, default=300, help='allowed RSS growth between warm-up and the end')
    p.add_argument('--out', metavar='OUT.json', help='also write the report here')
    a = p.parse_args(argv)
    r = run(a)
    print_report(r)
    if a.out: Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(r, indent=2))
    return 1 if r['problems'] else 0

if __name__ == '__main__': sys.exit(main())
