"""The app's files on a real `qwen-vl serve` without keys: uploads are images and videos only (by name and content),
bounded per client and in all before anything is written, kept in the app's own folder under QWEN_VL_TEMP_DIR, and
that folder — uploads, results, exports — is gone once the server stops on SIGINT or SIGTERM."""
import io, os, re, signal
from pathlib import Path
import httpx, numpy as np
from PIL import Image
from conftest import serve_tiny
from qwen_vl.inputs import make_test_video

ROOT = Path(__file__).resolve().parent.parent
CAKES = ROOT/'reference/qwen25vl-cookbooks/assets/spatial_understanding/cakes.png'
BOUNDS = {'QWEN_UI_UPLOAD_MB': '1', 'QWEN_UI_UPLOADS_TOTAL_MB': '1.5', 'QWEN_MAX_NEW_TOKENS': '4'}

def noise_png(seed:int) -> bytes:
    "A PNG of about 0.46 MB that doesn't compress (each one different, so Gradio keeps each)."
    buf = io.BytesIO(); Image.fromarray(np.random.default_rng(seed).integers(0, 256, (400, 380, 3), dtype=np.uint8)).save(buf, 'PNG')
    return buf.getvalue()

def client(url:str, address:str='127.0.0.1') -> httpx.Client:
    "A client connecting from `address` (any of 127.0.0.0/8), so the server sees another client."
    return httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=address))

def upload(c:httpx.Client, name:str, data:bytes, mime:str='image/png') -> httpx.Response:
    return c.post('/ui/gradio_api/upload', files={'files': (name, data, mime)})

def app_folder(temp:Path) -> Path:
    (folder,) = temp.glob('qwen-vl-app-*')
    return folder

def kept(temp:Path) -> list[str]:
    return sorted(p.name for p in temp.rglob('*') if p.is_file())

def test_uploads_are_typed_and_bounded_and_gone_after_sigint(tmp_path):
    temp = tmp_path/'temp'
    with serve_tiny(env={'QWEN_VL_TEMP_DIR': str(temp), **BOUNDS}, log=tmp_path/'server.log') as (url, p), client(url) as c:
        folder = app_folder(temp)
        assert folder.name == f'qwen-vl-app-{p.pid}' and oct(folder.stat().st_mode & 0o777) == '0o700'
        refusals = {'notes.txt': 'the app takes only images', 'setup.exe': 'the app takes only images', 'page.html': 'the app takes only images',
                    'picture.svg': 'the app takes only images', 'cat.png': 'not an image we can read; allowed: JPEG, PNG', 'clip.mp4': 'not a video we can read'}
        for name, why in refusals.items():  # by name, and by content: a picture named .svg and text named .png are refused too
            data = noise_png(9) if name == 'picture.svg' else b'MZ\x90\x00' + bytes(500) if name == 'setup.exe' else b'<script>alert(1)</script> just text'
            r = upload(c, name, data, 'application/octet-stream')
            assert r.status_code == 415 and r.text.startswith(f'{name}: {why}') and r.text.endswith('(the upload was removed)'), (name, r.text)
        assert kept(temp) == []  # nothing refused stays on disk
        r = upload(c, 'big.png', bytes(1_200_000))
        assert r.status_code == 413 and 'QWEN_UI_UPLOAD_MB' in r.text, r.text
        first, second = upload(c, 'a.png', noise_png(1)), upload(c, 'b.png', noise_png(2))
        assert first.status_code == second.status_code == 200, (first.text, second.text)
        assert Path(first.json()[0]).is_relative_to(folder) and Path(first.json()[0]).read_bytes() == noise_png(1)
        before = kept(temp)
        r = upload(c, 'c.png', noise_png(3))  # over the 1 MB one client may keep
        assert r.status_code == 429 and r.text.startswith('client 127.0.0.1 keeps 0.9 MB of uploads') and 'QWEN_UI_UPLOAD_MB' in r.text, r.text
        assert 3000 <= int(r.headers['retry-after']) <= 3600
        assert kept(temp) == before  # refused before a byte was written
        with client(url, '127.0.0.2') as other, client(url, '127.0.0.3') as third:
            assert upload(other, 'd.png', noise_png(4)).status_code == 200  # another client has its own share
            r = upload(third, 'e.png', noise_png(5))  # but all of them together have 1.5 MB
            assert r.status_code == 429 and r.text.startswith('the app keeps 1.4 MB of uploads from all clients') and 'QWEN_UI_UPLOADS_TOTAL_MB' in r.text, r.text
            clip = make_test_video(tmp_path/'clip.mp4', frames=4).read_bytes()
            r = upload(third, 'clip.mp4', clip, 'video/mp4')  # a video (small: it fits) goes through
            assert r.status_code == 200 and Path(r.json()[0]).read_bytes() == clip, r.text
        assert c.post('/ui/gradio_api/process_recording', files={'video': ('v.mp4', b'x', 'video/mp4')}).status_code == 404
    assert p.returncode in (0, 130), p.returncode
    assert not folder.exists() and kept(temp) == []

def test_results_and_exports_are_gone_after_sigterm(tmp_path):
    "A task run in the app and its export (JSON, PNG, PDF) are kept in the app's folder; SIGTERM removes all of it."
    from gradio_client import Client, handle_file
    temp = tmp_path/'temp'
    with serve_tiny(env={'QWEN_VL_TEMP_DIR': str(temp), 'QWEN_MAX_NEW_TOKENS': '4'}, log=tmp_path/'server.log') as (url, p):
        folder = app_folder(temp)
        app = Client(url + '/ui/', verbose=False, download_files=False)  # one session: the export finds the run's result
        cfg = httpx.get(url + '/ui/config').json()
        comps = {x['id']: x for x in cfg['components']}
        run = next(d['api_name'] for d in cfg['dependencies'] if (d.get('api_name') or '').startswith('_run') and
                   comps[d['inputs'][0]]['props'].get('elem_id') == 'spatial-upload')
        answer = app.predict(handle_file(str(CAKES)), 'detect', 'cake', '```json\n[{"bbox_2d": [10, 20, 300, 400], "label": "cake"}]\n```', 4, 0, 1,
                             api_name='/' + run)
        assert answer[2]['task'] == 'spatial' and Path(answer[1]['path']).is_relative_to(folder), answer[:2]
        files, note = app.predict(api_name='/_export' + run[4:])
        exports = [Path(f['path']) for f in files]
        assert sorted(e.suffix for e in exports) == ['.json', '.pdf', '.png'] and '⚠️' not in note, (files, note)
        assert all(re.fullmatch(r'spatial-\d{8}-\d{6}\.(json|png|pdf)', e.name) for e in exports), exports  # named in full: task and moment
        assert note == 'Exported ' + ', '.join(f'`{e.name}`' for e in exports), note
        assert all(e.is_relative_to(folder) and e.is_file() for e in exports), exports
        p.send_signal(signal.SIGTERM)
        p.wait(60)
    assert p.returncode == 0, p.returncode
    assert not folder.exists() and kept(temp) == [] and not any(e.exists() for e in exports)
    assert not [d for d in os.listdir(temp) if d.startswith('qwen-vl-export-')]
