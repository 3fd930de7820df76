"A batch run on Ray actors writes the rows `batch` writes, resumes like it, stops on Ctrl-C, and works from the CLI and through a remote engine."
import json, os, signal, subprocess
from pathlib import Path
import pytest
import ray
from conftest import EXE, serve_tiny, wait_until
from qwen_vl.batch import batch, read_results
from qwen_vl.config import load_settings
from qwen_vl.errors import ServiceError
from qwen_vl.scale import batch_ray, start_ray
from qwen_vl.service import InferenceService
from qwen_vl.synthetic import make_dataset

TINY = load_settings(env={}, model='tiny', cache_size=0)
RUN = dict(task='spatial', options={'max_new_tokens': 8}, progress=False)

@pytest.fixture(scope='module')
def cluster():
    "One local Ray for the module (2 CPUs: two actors); its address, for the CLI to join."
    start_ray(ray, None, 2)  # tried again if it misses Ray's start-up deadline on a busy machine
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()

@pytest.fixture(scope='module')
def shapes(tmp_path_factory) -> Path:
    return make_dataset('shapes', 6, 0, tmp_path_factory.mktemp('data'))

@pytest.fixture(scope='module')
def local(shapes, tmp_path_factory) -> Path:
    "The same records run by `batch` through one service in this process."
    out = tmp_path_factory.mktemp('local')/'local.jsonl'
    s = batch(shapes, InferenceService(TINY).start(background=False), out, **RUN)
    assert (s.done, s.failed) == (6, 0), s
    return out

def same_rows(a:dict, b:dict):
    "The rows of two runs agree: ids, keys, and — greedy decoding, one tiny model — the answers."
    assert sorted(a) == sorted(b)
    for k in a:
        assert set(a[k]) == set(b[k]), k
        assert {f: a[k][f] for f in ('ok', 'task', 'mode', 'text', 'data', 'completion_tokens', 'prompt_tokens', 'model', 'image_size', 'dataset')} == \
               {f: b[k][f] for f in ('ok', 'task', 'mode', 'text', 'data', 'completion_tokens', 'prompt_tokens', 'model', 'image_size', 'dataset')}, k

def test_ray_run_writes_the_rows_batch_writes_and_resumes(cluster, shapes, local, tmp_path):
    out = tmp_path/'ray.jsonl'
    out.write_text(''.join(local.read_text().splitlines(keepends=True)[:2]))  # an earlier run answered two
    s = batch_ray(shapes, TINY, out, actors=2, **RUN)
    assert (s.total, s.skipped, s.done, s.failed, s.interrupted, s.workers) == (6, 2, 4, 0, False, 2), s
    assert len(out.read_text().splitlines()) == 6  # one line per record: the two skipped ones were not run again
    same_rows(read_results(local), read_results(out))
    again = batch_ray(shapes, TINY, out, actors=2, **RUN)
    assert (again.skipped, again.done, again.failed) == (6, 0, 0) and len(out.read_text().splitlines()) == 6  # nothing ran
    assert ray.is_initialized()  # joined this process's Ray: left running

def test_an_actor_whose_model_cannot_load_fails_the_run_with_the_reason(cluster, shapes, tmp_path):
    with pytest.raises(ServiceError, match='the run on Ray failed: .*does not exist'):
        batch_ray(shapes, load_settings(env={}, model=str(tmp_path/'no-model')), tmp_path/'r.jsonl', actors=1, **RUN)
    assert (tmp_path/'r.jsonl').read_text() == ''

def env() -> dict:
    "This process's environment, with what `ray.init` set in it (`RAY_AUTH_MODE`: a driver joining the module's Ray needs its token)."
    return dict(os.environ, HF_HUB_OFFLINE='1')

def cli(*args):
    return subprocess.run([EXE, *args], capture_output=True, text=True, env=env(), timeout=300)

def test_cli_batch_on_ray_stops_on_ctrl_c_resumes_and_evaluates(cluster, tmp_path):
    "`qwen-vl batch --ray` on its own local Ray, stopped by SIGINT after the first line; the rest on the module's Ray; then `eval`."
    data = make_dataset('shapes', 40, 0, tmp_path)
    out, cmd = tmp_path/'r.jsonl', [EXE, 'batch', str(data), '--task', 'spatial', '--model', 'tiny', '--max-new-tokens', '8', '--ray', '--actors', '2']
    p = subprocess.Popen([*cmd, '--out', str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env())
    wait_until(lambda: p.poll() is not None or (out.is_file() and out.read_text().count('\n') > 0), 240)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err[-3000:]
    first = len(out.read_text().splitlines())
    assert 'interrupted: run again to resume' in err and 1 <= first < 40, (first, err[-2000:])
    r = cli(*cmd[1:], '--out', str(out), '--ray-address', cluster, '--quiet', '--json')
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads(r.stdout)
    assert (s['skipped'], s['done'] + s['skipped'], s['failed']) == (first, 40, 0), s
    ev = cli('eval', str(out), '--json')
    assert ev.returncode == 0, ev.stderr[-3000:]
    assert json.loads(ev.stdout)['metrics']['all']['items'] == 40

def test_actors_as_clients_of_a_remote_engine(cluster, shapes, local, tmp_path):
    "With the remote backend each actor is a client of the engine's URL: the same rows, answered by `qwen-vl serve`."
    with serve_tiny(log=tmp_path/'serve.log') as (url, _):
        remote = load_settings(env={}, backend='remote', remote_url=url + '/v1', cache_size=0)
        s = batch_ray(shapes, remote, tmp_path/'remote.jsonl', actors=2, **RUN)
    assert (s.done, s.failed, s.workers) == (6, 0, 2 * remote.decode_slots), s
    rows = read_results(tmp_path/'remote.jsonl')
    assert sorted(rows) == sorted(read_results(local)) and all(r['ok'] and r['completion_tokens'] == 8 for r in rows.values())
