"""Media that are small files but decode huge, against `qwen-vl serve --model tiny` with its default limits, under a
memory watchdog: each is refused with a 4xx within seconds, before it is decoded, while the server's memory stays
within 600 MB of what it was; `/readyz` is ready after each. Videos decord can't read are answered, or refused with
a 400 naming the fields; valid media are answered."""
import base64, io, threading, time
from pathlib import Path
import av, httpx, numpy as np, psutil, pytest
from PIL import Image
from conftest import serve_tiny
from qwen_vl.inputs import make_test_video

HEADROOM = 600e6 # bytes the server may grow by while it refuses a request
SAMPLE = Path(__file__).resolve().parent.parent/'samples/moving_bar.mp4'

def rss(proc:psutil.Process) -> int:
    "Resident memory of the server and any process it started."
    procs = [proc] + proc.children(recursive=True)
    total = 0
    for p in procs:
        try: total += p.memory_info().rss
        except psutil.NoSuchProcess: pass
    return total

class Watchdog:
    "Samples the server's RSS every 50 ms while a request runs; kills the server if it grows past the headroom (so a failing run can't take the machine)."
    def __init__(self, proc:psutil.Process):
        self.proc, self.stop, self.base = proc, threading.Event(), rss(proc)
        self.peak, self.killed = self.base, False
        self.thread = threading.Thread(target=self._watch, daemon=True)
    def _watch(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss(self.proc))
            if self.peak - self.base > 2 * HEADROOM: self.killed = True; self.proc.kill(); return
            time.sleep(0.05)
    def __enter__(self): self.thread.start(); return self
    def __exit__(self, *exc): self.stop.set(); self.thread.join()
    @property
    def grew(self) -> float: return (self.peak - self.base) / 1e6

def data_url(data:bytes, mime:str) -> str: return f'data:{mime};base64,' + base64.b64encode(data).decode()

def _img(img:Image.Image, fmt:str, **kw) -> bytes:
    b = io.BytesIO(); img.save(b, fmt, **kw); return b.getvalue()

def _big_frames(path:Path) -> bytes:
    "8 frames of 8000×8000 (under a megabyte of MPEG-4; 192 MB each decoded)."
    frame = av.VideoFrame.from_ndarray(np.zeros((8000, 8000, 3), np.uint8), format='rgb24')
    with av.open(str(path), 'w') as c:
        s = c.add_stream('mpeg4', rate=4); s.width = s.height = 8000; s.pix_fmt = 'yuv420p'
        for _ in range(8):
            for pkt in s.encode(frame): c.mux(pkt)
        for pkt in s.encode(): c.mux(pkt)
    return path.read_bytes()

@pytest.fixture(scope='module')
def media(tmp_path_factory):
    "The media, made here: tiny files."
    d = tmp_path_factory.mktemp('media')
    m = {'8000x8000 clip': _big_frames(d/'big.mp4'),
         '899 s clip': make_test_video(d/'long.mp4', frames=899, fps=1, size=(32, 32)).read_bytes(),
         '2000 frames': make_test_video(d/'many.mp4', frames=2000, fps=25, size=(32, 32)).read_bytes(),
         '256 frames': make_test_video(d/'256.mp4', frames=256, fps=8, size=(32, 32)).read_bytes(),
         'one frame': make_test_video(d/'one.mp4', frames=1, fps=4, size=(64, 48)).read_bytes(),
         '16x16': make_test_video(d/'small.mp4', frames=8, fps=4, size=(16, 16)).read_bytes(),
         '50 MP PNG': _img(Image.new('RGB', (7071, 7071), 'white'), 'PNG'),
         '16-bit TIFF': _img(Image.fromarray(np.zeros((7000, 7000), np.uint16)), 'TIFF', compression='tiff_adobe_deflate'),
         'photo': _img(Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)), 'JPEG')}
    assert max(len(m[k]) for k in m if k != '8000x8000 clip') < 200_000 and len(m['8000x8000 clip']) < 1_500_000
    return m

@pytest.fixture(scope='module')
def server(tmp_path_factory):
    "`qwen-vl serve --model tiny` with the default limits and its own temp folder; warmed by valid requests."
    temp = tmp_path_factory.mktemp('requests')
    with serve_tiny('--no-ui', env={'QWEN_VL_TEMP_DIR': str(temp)}) as (url, p), httpx.Client(base_url=url, timeout=120) as http:
        proc = psutil.Process(p.pid)
        for _ in range(2): assert_answered(video_chat(http, SAMPLE.read_bytes()))
        yield http, proc, temp

def chat(http, parts:list, **kw):
    return http.post('/v1/chat/completions', json={'messages': [{'role': 'user', 'content': parts + [{'type': 'text', 'text': 'What is this?'}]}],
                                                   'max_tokens': 2, **kw})

def video_chat(http, *clips:bytes): return chat(http, [{'type': 'video_url', 'video_url': {'url': data_url(c, 'video/mp4')}} for c in clips])

def image_chat(http, *images:bytes, mime='image/png'): return chat(http, [{'type': 'image_url', 'image_url': {'url': data_url(i, mime)}} for i in images])

def video_task(http, clip:bytes, **fields):
    return http.post('/v1/tasks/video', json={'videos': [data_url(clip, 'video/mp4')], 'fields': fields, 'generation': {'max_new_tokens': 2}})

def assert_answered(r):
    assert r.status_code == 200, r.text

def refused(server, ask, status:int, words:list[str], seconds:float=8.0):
    "`ask()` is refused with `status` and a message holding `words`, within `seconds`, the server growing by under the headroom; it stays ready."
    http, proc, temp = server
    with Watchdog(proc) as dog:
        t = time.perf_counter()
        try: r = ask()
        except httpx.HTTPError:
            if not dog.killed: raise
        took = time.perf_counter() - t
    assert not dog.killed, f'the server grew by more than {2 * HEADROOM / 1e6:.0f} MB while it decoded the request, and was stopped'
    assert r.status_code == status, (r.status_code, r.text)
    err = r.json()['error']
    assert set(err) == {'message', 'type', 'param', 'code'} and all(w in err['message'] for w in words), (words, err['message'])
    assert 'qwen-vl-req-' not in err['message']
    assert took < seconds, took
    assert dog.grew < HEADROOM / 1e6, f'the server grew by {dog.grew:.0f} MB'
    assert http.get('/readyz').status_code == 200
    assert list(temp.iterdir()) == []
    print(f'refused in {took:.2f} s, the server grew by {dog.grew:.0f} MB: {err["message"]}')
    return err['message']

def test_frames_too_large(server, media):
    "An 8000×8000 clip is refused from its container's frame size, before a frame is decoded."
    refused(server, lambda: video_chat(server[0], media['8000x8000 clip']), 413,
            ["the video's frames are 8000x8000 = 64,000,000 pixels", 'the limit is 8,294,400 (QWEN_MAX_VIDEO_FRAME_PIXELS)'])

def test_two_long_clips(server, media):
    "Two 899-second 32×32 clips (within the 900 s and 2-video limits) sample 768 frames each at 2 fps: over the 256 a request may have."
    refused(server, lambda: video_chat(server[0], media['899 s clip'], media['899 s clip']), 413,
            ['sampled to 768 frames', 'the limit is 256 a request (QWEN_MAX_VIDEO_FRAMES)', 'lower fps or nframes', 'shorter clip'])

def test_nframes_from_task_fields(server, media):
    "The video task's `fields.nframes=2000` on a 2000-frame clip reaches the video item: counted before decoding."
    refused(server, lambda: video_task(server[0], media['2000 frames'], nframes=2000), 413, ['sampled to 2,000 frames', 'the limit is 256'])

def test_min_pixels_from_task_fields(server, media):
    "256 frames of 32×32, each upscaled by `fields.min_pixels` to 784×784: within the frame limit, over the decoded bytes."
    refused(server, lambda: video_task(server[0], media['256 frames'], nframes=256, min_pixels=600_000), 413,
            ["the request's media decode to 6,294 MB", 'the limit is 1024 MB (QWEN_MAX_DECODED_MB)'])

def test_eight_50_megapixel_pngs(server, media):
    "8 × 50-megapixel PNGs (160 kB each) in one chat request: the second is refused from its header, the rest never decoded."
    refused(server, lambda: image_chat(server[0], *[media['50 MP PNG']] * 8), 413,
            ["the request's media decode to 2,033 MB", 'the limit is 1024 MB (QWEN_MAX_DECODED_MB)'])

def test_eight_16_bit_tiffs(server, media):
    "8 × 16-bit 7000×7000 TIFFs (150 kB each): the first is refused from its header."
    refused(server, lambda: image_chat(server[0], *[media['16-bit TIFF']] * 8, mime='image/tiff'), 413,
            ["the request's media decode to 1,156 MB", 'the limit is 1024 MB'])

@pytest.mark.parametrize('case', ['one frame', '16x16'])
def test_videos_decord_rejects_are_answered(server, media, case):
    "A valid 1-frame video and one of 16×16 frames, which decord fails on (and its torchvision fallback is gone): answered."
    http, proc, temp = server
    r = video_chat(http, media[case])
    assert_answered(r)
    r = video_task(http, media[case])
    assert_answered(r)
    (v,) = r.json()['visuals']
    assert v['frames'] >= 2 and all(x % 28 == 0 for x in v['input_size']), v
    assert list(temp.iterdir()) == []

def test_a_time_range_that_selects_nothing(server, media):
    "`video_start` after `video_end`, or past the clip's end: a 400 naming the fields."
    refused(server, lambda: video_task(server[0], SAMPLE.read_bytes(), video_start=3, video_end=1), 400, ['video_start (3 s) must be before video_end (1 s)'])
    refused(server, lambda: video_task(server[0], SAMPLE.read_bytes(), video_start=60), 400,
            ['video_start=60 selects no frames of this 4.00 s video', 'video_start before video_end'])
    refused(server, lambda: video_task(server[0], SAMPLE.read_bytes(), fps=2, nframes=4), 400, ['fps or its nframes, not both'])

def test_valid_media_are_answered(server, media):
    "The sample clip (chat and task, with sampling fields), a long clip sampled lightly, ordinary photos: answered."
    http, proc, temp = server
    assert_answered(video_chat(http, SAMPLE.read_bytes(), SAMPLE.read_bytes()))
    r = video_task(http, SAMPLE.read_bytes(), fps=4, video_start=1, video_end=3)
    assert_answered(r)
    assert r.json()['visuals'][0]['frames'] == 8, r.json()['visuals']
    assert_answered(video_task(http, media['2000 frames'], nframes=16))  # a long clip, sampled lightly
    assert_answered(image_chat(http, *[media['photo']] * 8, mime='image/jpeg'))
    assert list(temp.iterdir()) == []
