"Shared by the tests: `qwen-vl serve` as a separate process, as a user starts it."
import os, signal, socket, subprocess, sys, time
from contextlib import contextmanager
from pathlib import Path
import httpx, pytest

EXE = str(Path(sys.executable).parent/'qwen-vl')

def free_port() -> int:
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

@contextmanager
def serve_tiny(*args, env:dict|None=None, log:Path|None=None, timeout:float=180):
    "Run `qwen-vl serve --model tiny ARGS` on a free port until it is ready; yields (url, process); stops it with SIGINT."
    port = free_port()
    out = open(log, 'w') if log else subprocess.PIPE
    p = subprocess.Popen([EXE, 'serve', '--model', 'tiny', '--port', str(port), *args], stdout=out, stderr=subprocess.STDOUT,
                         text=True, env=dict(os.environ, HF_HUB_OFFLINE='1', **(env or {})))
    if log: out.close()
    url, t0 = f'http://127.0.0.1:{port}', time.time()
    try:
        while True:
            assert p.poll() is None, log.read_text() if log else p.stdout.read()
            try:
                if httpx.get(url + '/readyz', timeout=2).status_code == 200: break
            except httpx.HTTPError: pass
            if time.time() - t0 > timeout: pytest.fail(f'qwen-vl serve {" ".join(args)} never became ready')
            time.sleep(0.3)
        yield url, p
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
            try: p.wait(30)
            except subprocess.TimeoutExpired: p.kill()

def wait_until(cond, seconds:float, step:float=0.05):
    "Poll `cond` until it is true; fail the test after `seconds`."
    t0 = time.time()
    while not cond():
        assert time.time() - t0 < seconds, f'still not true after {seconds} s'
        time.sleep(step)

def upload(tab, name:str, *files, seconds:float=30):
    "Upload `files` to task tab `name` of the app and wait until the app has read them (its preview note gives their size)."
    from playwright.sync_api import expect
    tab.locator(f'#{name}-upload input[type=file]').set_input_files([str(f) for f in files])
    expect(tab.locator(f'#{name}-preview-note')).to_contain_text('pixels', timeout=seconds*1000)
