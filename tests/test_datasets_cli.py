"The dataset commands as a user runs them: `make-dataset`, `batch` (interrupted and resumed), `eval` and `eval --compare`."
import json, os, signal, subprocess, time
from pathlib import Path
import pytest
from PIL import Image
from qwen_vl.grid import FACTOR, MIN_PIXELS, smart_resize
from test_cli import EXE, qwen_vl

SMALL = {'QWEN_MAX_PIXELS': str(128 * 28 * 28), 'QWEN_MAX_NEW_TOKENS': '8'}  # quick on the CPU; coordinates still mapped

def lines(p:Path) -> list[dict]: return [json.loads(l) for l in p.read_text().splitlines() if l.strip()]

@pytest.fixture(scope='module')
def shapes(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp('data')
    p = qwen_vl('make-dataset', 'shapes', '--n', '12', '--seed', '3', str(d))
    assert p.returncode == 0, p.stderr
    return d/'shapes.jsonl'

def test_make_dataset_is_deterministic_and_labelled(shapes, tmp_path):
    assert qwen_vl('make-dataset', 'shapes', '--n', '12', '--seed', '3', str(tmp_path)).returncode == 0
    again = tmp_path/'shapes.jsonl'
    assert again.read_bytes() == shapes.read_bytes()
    recs = lines(shapes)
    assert len(recs) == 12 and all(r['labels']['boxes'] and r['task'] == 'spatial' for r in recs)
    for r in recs: assert (tmp_path/r['image']).read_bytes() == (shapes.parent/r['image']).read_bytes()

def test_bad_requests_are_refused_clearly(tmp_path):
    p = qwen_vl('make-dataset', 'clouds', '--n', '3', str(tmp_path))
    assert p.returncode == 2 and "unknown kind 'clouds'; allowed: shapes" in p.stderr and 'Traceback' not in p.stderr
    p = qwen_vl('batch', str(tmp_path/'missing.jsonl'), '--task', 'spatial', '--out', str(tmp_path/'r.jsonl'), '--model', 'tiny')
    assert p.returncode == 2 and 'no dataset at' in p.stderr and 'Traceback' not in p.stderr
    p = qwen_vl('eval', str(tmp_path/'nothing.jsonl'))
    assert p.returncode == 2 and 'no results' in p.stderr and 'Traceback' not in p.stderr

def test_batch_interrupted_then_resumed_then_scored(shapes, tmp_path):
    out = tmp_path/'r.jsonl'
    args = [EXE, 'batch', str(shapes), '--task', 'spatial', '--out', str(out), '--model', 'tiny', '--workers', '1']
    env = dict(os.environ, HF_HUB_OFFLINE='1', **SMALL)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    t0 = time.time()
    while not (out.is_file() and out.read_text().count('\n') >= 2):
        assert p.poll() is None, p.communicate()
        assert time.time() - t0 < 300, 'no results line after 300 s'
        time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    first = lines(out)
    assert 2 <= len(first) < 12 and len({r['id'] for r in first}) == len(first), err  # whole lines only, each id once
    assert 'interrupted' in err.lower()
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    rows = lines(out)
    assert sorted(r['id'] for r in rows) == sorted(json.loads(l)['id'] for l in shapes.read_text().splitlines())
    assert rows[:len(first)] == first  # what was done stays; the rest is added
    assert 'skipped' in p.stderr and all(set(r) >= {'id', 'ok', 'data', 'seconds'} for r in rows)
    ev = qwen_vl('eval', str(out), '--json')
    assert ev.returncode == 0, ev.stderr
    scores = json.loads(ev.stdout)
    assert scores['metrics']['all']['items'] == 12
    table = qwen_vl('eval', str(out))
    assert table.returncode == 0 and 'spatial' in table.stdout
    other = tmp_path/'r2.jsonl'
    p = qwen_vl('batch', str(shapes), '--task', 'spatial', '--out', str(other), '--model', 'tiny', '--prefill', '```json\n[{"bbox_2d": [0, 0, 50, 50], "label": "x"}]\n```', env=SMALL)
    assert p.returncode == 0, p.stderr
    cmp = qwen_vl('eval', '--compare', str(out), str(other))
    assert cmp.returncode == 0 and 'r2' in cmp.stdout, cmp.stderr

def test_batch_through_the_remote_backend(shapes, tmp_path):
    "The same run through the remote engine, a client of a second `qwen-vl serve`: every row answered, boxes in the original image's pixels, scored."
    from conftest import serve_tiny
    local, remote = tmp_path/'local.jsonl', tmp_path/'remote.jsonl'
    box = ['--prefill', '```json\n[{"bbox_2d": [0, 0, 56, 28], "label": "x"}]\n```']  # a box in the model's input pixels, whatever it decodes after
    p = qwen_vl('batch', str(shapes), '--task', 'spatial', '--model', 'tiny', '--out', str(local), '--quiet', '--draw', str(tmp_path/'pics'), *box, env=SMALL)
    assert p.returncode == 0, p.stderr
    pics = sorted((tmp_path/'pics').iterdir())  # --draw: each answer's picture, named by its record's id
    assert [q.name for q in pics] == sorted(r['id'] + '.png' for r in lines(shapes))
    with Image.open(pics[0]) as im: assert im.format == 'PNG' and im.width >= 200
    with serve_tiny(env=SMALL, log=tmp_path/'serve.log') as (url, _):
        p = qwen_vl('batch', str(shapes), '--task', 'spatial', '--backend', 'remote', '--remote-url', url + '/v1', '--out', str(remote),
                    '--quiet', '--json', *box, env=SMALL)
    assert p.returncode == 0, p.stderr
    summary, rows, recs = json.loads(p.stdout), lines(remote), lines(shapes)
    assert summary['done'] == 12 and summary['failed'] == 0, summary
    by_id = {r['id']: r for r in lines(local)}
    assert sorted(r['id'] for r in rows) == sorted(r['id'] for r in recs) and all(r['ok'] for r in rows)
    for r in rows:  # the remote engine decodes the same pixels with the same greedy tiny model: the same answer, mapped the same
        assert r['image_size'] == by_id[r['id']]['image_size'] and r['data'] == by_id[r['id']]['data'], r['id']
        (b, *_), (w, h) = r['data']['boxes'], r['image_size']
        H, W = smart_resize(h, w, FACTOR, MIN_PIXELS, int(SMALL['QWEN_MAX_PIXELS']))
        assert b['input_bbox'] == [0, 0, 56, 28] and b['bbox'] == pytest.approx([0, 0, 56 * w / W, 28 * h / H], abs=1)  # in the original's pixels
        assert r['prompt_tokens'] > 0 and r['completion_tokens'] > 0
    ev = qwen_vl('eval', str(remote), '--json')
    assert ev.returncode == 0 and json.loads(ev.stdout)['metrics']['all']['items'] == 12, ev.stderr

def test_eval_writes_plots_and_warns_of_labels_outside_their_images(shapes, tmp_path):
    recs = lines(shapes)
    for r in recs: r['image'] = str(shapes.parent/r['image'])
    w, h = Image.open(recs[1]['image']).size
    recs[1]['labels']['boxes'][0]['bbox'] = [0, 0, w + 40, h]  # labelled for a bigger copy of the image
    data = tmp_path/'moved.jsonl'; data.write_text(''.join(json.dumps(r) + '\n' for r in recs))
    out = tmp_path/'r.jsonl'
    p = qwen_vl('batch', str(data), '--task', 'spatial', '--model', 'tiny', '--out', str(out), '--quiet', env=SMALL)
    assert p.returncode == 0, p.stderr
    ev = qwen_vl('eval', str(out), '--plots', str(tmp_path/'plots'))
    assert ev.returncode == 0, ev.stderr
    assert f"warning: data line 2: record '{recs[1]['id']}'" in ev.stderr and f'{w}x{h} pixels' in ev.stderr, ev.stderr
    names = sorted(q.name for q in (tmp_path/'plots').iterdir())
    assert {'scores.png', 'iou.png', 'classes.png'} <= set(names) and sum(n.startswith('worst-') for n in names) == 6, names
    assert f'{len(names)} pictures in' in ev.stderr
