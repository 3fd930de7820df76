"""Property-based fuzzing (hypothesis) of the parsers, the task parsers and request validation.

Any string in → a result (with warnings for what could not be read) out, never an exception; coordinates always inside
the image. Any request body → a validated request or a validation error naming the field, never another exception; and
against a real server, never a 5xx.

CI runs a short pass (at most 200 examples per property, ~15 s). A longer run: `QWEN_FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py` (~5 min)."""
import json, math, os
import httpx, pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from pydantic import ValidationError
from qwen_vl.api import ChatCompletionRequest, MediaResolver, TaskRequest, create_app, serve_in_thread, to_engine_messages
from qwen_vl.config import load_settings
from qwen_vl.generation import GenerationOptions, generation_options
from qwen_vl.inputs import InputError, VisualInfo, plain_text, prepare_messages
from qwen_vl.media import RequestFiles, data_url, decode_data_url
from qwen_vl.parsers import (extract_json, find_fenced, map_box, map_point, parse_boxes, parse_events, parse_points, parse_time_spans,
                             parse_timestamp, parse_tool_calls)
from qwen_vl.qwenvl_html import clean_html, html_tree, parse_html, to_markdown
from qwen_vl.service import InferenceService
from qwen_vl.tasks.base import BUILTIN, get_task, image_visual

EXAMPLES = int(os.environ.get('QWEN_FUZZ_EXAMPLES', 0)) or None
def fuzz(n:int):
    "hypothesis settings: `n` examples in CI (or QWEN_FUZZ_EXAMPLES), no deadline (2 shared cores), no example database."
    return settings(max_examples=EXAMPLES or n, deadline=None, database=None, suppress_health_check=list(HealthCheck))

# --- answers: fragments of every form Qwen2.5-VL writes, glued with random text -------------------------------------
NUMS = st.one_of(st.integers(-10**6, 10**6), st.integers(-10**400, 10**400), st.floats(), st.text(max_size=6), st.none(), st.booleans())
COORDS = st.lists(NUMS, max_size=5)
KEYS = ['bbox_2d', 'bbox', 'point_2d', 'point', 'label', 'text_content', 'text', 'coordinate', 'coordinate2', 'start_coordinate',
        'start_time', 'end_time', 'timestamp', 'description', 'action', 'name', 'arguments', 'key', 'keys', 'time', 'status']
JSON_VAL = st.recursive(st.one_of(NUMS, COORDS), lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)), max_leaves=20)
ITEM = st.dictionaries(st.sampled_from(KEYS), st.one_of(COORDS, NUMS, JSON_VAL), max_size=6)
ACTION = st.fixed_dictionaries({'action': st.sampled_from(['click', 'left_click', 'double_click', 'right_click', 'mouse_move', 'left_click_drag',
                                                          'type', 'key', 'scroll', 'swipe', 'long_press', 'system_button', 'open', 'wait',
                                                          'terminate', 'answer', 'drag', 'bogus'])},
                               optional={'coordinate': COORDS, 'coordinate2': COORDS, 'start_coordinate': COORDS, 'text': NUMS,
                                         'keys': st.lists(st.text(max_size=5), max_size=3), 'time': NUMS, 'pixels': NUMS, 'button': NUMS})
def _dump(v):
    try: return json.dumps(v)
    except (ValueError, OverflowError): return str(v)
FRAGMENTS = ['```json\n', '```html\n', '```', '\n', '[', ']', '{', '}', ',', ':', '"', '"bbox_2d": ', '"point_2d": ', '[10, 20, 300, 400]',
             '[1e309, -5, 3, 2]', 'NaN', 'Infinity', '-1e400', '<tool_call>\n', '\n</tool_call>', '<points x1="10" y1="20" x2="1e999" y2="-4">',
             '</points>', '<point x="5" y="nan">', '<html><body>', '</body></html>', '<p data-bbox="10 20 30 40">', '<div class="image" data-bbox="',
             '</p>', '</div>', '<table><tr><td>', '</td></tr></table>', '<h1 data-bbox="0 0 99999 99999">', '<ol><li>', '<br/>', '00:01:05.5',
             ' - ', ' to ', '12.5s', '99999999999999999999999999999999999:00', '<|im_start|>', '(10,20,30,40) cat\n', 'data-bbox="1 2 3 4"',
             '9' * 400, f'({"9" * 400}, 1, 2, 3) x\n', '"start_time": ', '"end_time": ', f'{10**400}', '-7']
ANSWER = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12), NUMS.map(str)), max_size=25).map(''.join),
    st.lists(st.one_of(ITEM, JSON_VAL), max_size=6).map(lambda v: '```json\n' + _dump(v) + '\n```'),
    st.tuples(st.lists(ITEM, max_size=6), st.integers(0, 400)).map(lambda t: ('```json\n' + _dump(t[0]))[:t[1]]),
    st.lists(st.fixed_dictionaries({'name': st.sampled_from(['computer_use', 'mobile_use', 'x'])}, optional={'arguments': st.one_of(ACTION, NUMS)}),
             max_size=3).map(lambda cs: ''.join(f'<tool_call>\n{_dump(c)}\n</tool_call>' for c in cs)),
)
SIZE = st.tuples(st.integers(1, 5000), st.integers(1, 5000)).filter(lambda s: max(s) / min(s) <= 200)  # Qwen's aspect limit

PARSERS = [extract_json, parse_boxes, parse_points, parse_tool_calls, parse_events, parse_time_spans, parse_html, clean_html,
           lambda t: to_markdown(html_tree(t)), parse_timestamp, lambda t: find_fenced(t, 'json', strict=True)]

@fuzz(150)
@given(text=ANSWER, which=st.integers(0, len(PARSERS) - 1))
def test_parsers_never_raise(text, which):
    "Any text gives a result of the parser's own type: items and warnings, text, a number, or None."
    out = PARSERS[which](text)
    if hasattr(out, 'warnings'):  # a parsed result: what was read, and a warning for each thing that could not be
        assert isinstance(out.warnings, list) and all(isinstance(w, str) for w in out.warnings), out
        assert not hasattr(out, 'items') or isinstance(out.items, list), out
    elif which in (PARSERS.index(clean_html), 8): assert isinstance(out, str), out
    elif PARSERS[which] is parse_timestamp: assert out is None or (isinstance(out, float) and math.isfinite(out) and out >= 0), out

@fuzz(150)
@given(xy=st.tuples(st.floats(), st.floats()), box=st.tuples(*[st.floats(allow_nan=False)] * 4), inp=SIZE, orig=SIZE)
def test_mapped_coordinates_stay_in_the_image(xy, box, inp, orig):
    if all(math.isfinite(v) for v in xy):
        x, y = map_point(xy, inp, orig); assert 0 <= x <= orig[0] and 0 <= y <= orig[1]
    x1, y1, x2, y2 = map_box(box, inp, orig)
    assert 0 <= x1 <= x2 <= orig[0] and 0 <= y1 <= y2 <= orig[1]

TASK_MODES = [(t, m) for t in BUILTIN for m in get_task(t).modes]
COORD_KEYS = {'bbox': 4, 'point': 2, 'point2': 2}  # original pixels; input_* and an action's raw 'arguments' are the model's own numbers

def coordinates(o, key=None):
    "Every (key, numbers) of the original-pixel coordinate fields in a JSON-ready result."
    if isinstance(o, dict):
        for k, v in o.items():
            if k != 'arguments': yield from coordinates(v, k)
    elif isinstance(o, list):
        if key in COORD_KEYS and len(o) == COORD_KEYS[key] and all(isinstance(x, (int, float)) for x in o): yield key, o
        else:
            for x in o: yield from coordinates(x, key)

@fuzz(200)
@given(text=ANSWER, tm=st.sampled_from(TASK_MODES), orig=SIZE)
def test_task_parsers_give_results_inside_the_image(text, tm, orig):
    task, mode = tm
    visuals = [VisualInfo('video', orig, orig, frames=8, fps=2.0, duration=4.0)] if task == 'video' else [image_visual(orig)]
    r = get_task(task).parse(text, visuals, mode)
    d = r.to_dict()
    json.dumps(d, allow_nan=False)  # the API can always send it
    for ev in d['data'].get('events', []): assert 0 <= ev['start'] <= ev['end'], ev
    for key, xy in coordinates(d['data']):
        xs, ys = xy[0::2], xy[1::2]
        assert all(0 <= x <= orig[0] for x in xs) and all(0 <= y <= orig[1] for y in ys), (key, xy, orig)

# --- requests ---------------------------------------------------------------------------------------------------------
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(), st.text(max_size=8))
ANY_JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                        max_leaves=10)
URLS = st.one_of(st.sampled_from(['data:image/png;base64,', 'data:image/png;base64,@@', 'data:,', 'data:image/png;base64,iVBORw0KGgo=',
                                  'file:///etc/passwd', '../../etc/passwd', 'http://example.com/a.png', 'https://[::1]:0/x', 'data:video/mp4;base64,AAAA']),
                 st.text(max_size=30), st.binary(max_size=64).map(lambda b: 'data:image/png;base64,' + __import__('base64').b64encode(b).decode()))
PART = st.one_of(
    st.fixed_dictionaries({'type': st.just('text'), 'text': st.one_of(st.text(max_size=40), SCALARS)}),
    st.fixed_dictionaries({'type': st.just('image_url'), 'image_url': st.one_of(URLS, st.fixed_dictionaries({'url': URLS}), SCALARS)}),
    st.fixed_dictionaries({'type': st.just('video_url'), 'video_url': st.one_of(URLS, st.fixed_dictionaries({'url': URLS}))}),
    st.dictionaries(st.sampled_from(['type', 'text', 'image_url', 'image', 'video']), SCALARS, max_size=3))
MESSAGE = st.fixed_dictionaries({'role': st.sampled_from(['user', 'system', 'assistant', 'developer', 'tool', 'x']),
                                 'content': st.one_of(st.text(max_size=40), st.lists(PART, max_size=3), SCALARS)})
OPTION_VALUES = {'max_tokens': st.one_of(st.integers(-5, 3), st.integers(10**4, 10**12), SCALARS), 'max_completion_tokens': SCALARS,
                 'temperature': st.one_of(st.floats(-1, 3), SCALARS), 'top_p': st.one_of(st.floats(-1, 2), SCALARS),
                 'top_k': st.one_of(st.integers(-3, 2000), SCALARS), 'repetition_penalty': st.one_of(st.floats(0, 3), SCALARS),
                 'seed': st.one_of(st.integers(-5, 10**30), SCALARS), 'stop': st.one_of(st.lists(st.text(max_size=3), max_size=10), SCALARS),
                 'n': SCALARS, 'stream': SCALARS, 'model': st.one_of(st.just('tiny'), SCALARS), 'stream_options': ANY_JSON}
CHAT_BODY = st.one_of(ANY_JSON, st.fixed_dictionaries({'messages': st.one_of(st.lists(MESSAGE, max_size=3), ANY_JSON)},
                                                      optional={k: v for k, v in OPTION_VALUES.items()}))
GEN = st.dictionaries(st.sampled_from(list(GenerationOptions.model_fields) + ['beams']), st.one_of(SCALARS, st.lists(st.text(max_size=3), max_size=9)), max_size=4)
TASK_BODY = st.one_of(ANY_JSON, st.fixed_dictionaries({}, optional={'mode': SCALARS, 'prompt': SCALARS, 'system': SCALARS, 'fields': ANY_JSON,
                                                                    'images': st.one_of(st.lists(URLS, max_size=3), SCALARS), 'videos': st.lists(URLS, max_size=2),
                                                                    'generation': st.one_of(GEN, SCALARS), 'prefill': SCALARS, 'draw': SCALARS}))
S = load_settings(env={}, model='tiny', max_images=2)

def refused_fields(e:ValidationError, model) -> set:
    "The top-level fields a validation error names; each error has a message and names a field of `model` (or an unknown one it forbids)."
    errs = e.errors()
    assert errs and all(err['msg'] for err in errs), errs
    names = {str(err['loc'][0]) for err in errs if err['loc']}
    unknown = names - set(model.model_fields)
    assert not unknown or model.model_config.get('extra') == 'forbid', (unknown, errs)
    return names

def test_refused_fields_names_the_bad_field():
    "The helper above sees a wrong field, an unknown one, and a body that is not an object."
    for model, body, want in [(ChatCompletionRequest, {'messages': []}, {'messages'}), (TaskRequest, {'images': [1]}, {'images'}),
                              (TaskRequest, {'colour': 1}, {'colour'}), (ChatCompletionRequest, [], set())]:
        with pytest.raises(ValidationError) as e: model.model_validate(body)
        assert refused_fields(e.value, model) == want

@fuzz(200)
@given(body=CHAT_BODY)
def test_chat_request_validation(body):
    "A body is a valid request or a ValidationError naming its fields; a valid one's options and messages are checked, or refused with InputError."
    try: req = ChatCompletionRequest.model_validate(body)
    except ValidationError as e:
        names = refused_fields(e, ChatCompletionRequest)
        if isinstance(body, dict): assert names and names <= set(body) | {'messages'}, (names, body)
        return
    assert isinstance(body, dict) and req.messages and req.n == 1
    try: o = req.options()
    except InputError as e: assert str(e)
    else:
        assert isinstance(o, GenerationOptions)
        if req.max_completion_tokens or req.max_tokens: assert o.max_new_tokens == (req.max_completion_tokens or req.max_tokens)
    with RequestFiles(S) as files:
        try: msgs = to_engine_messages(req, MediaResolver(S, files))
        except InputError as e: assert str(e); return
        assert len(msgs) == len(req.messages) and all(m['role'] in ('system', 'user', 'assistant') for m in msgs), msgs

@fuzz(150)
@given(body=TASK_BODY)
def test_task_request_validation(body):
    "A task body is a request of the declared types, or a ValidationError naming each field it refuses (unknown ones too)."
    try: req = TaskRequest.model_validate(body)
    except ValidationError as e:
        names = refused_fields(e, TaskRequest)
        if isinstance(body, dict): assert names and names <= set(body), (names, body)
        return
    assert isinstance(body, dict) and set(body) <= set(TaskRequest.model_fields)
    assert all(isinstance(u, str) for u in req.images + req.videos) and isinstance(req.fields, dict) and isinstance(req.draw, bool)
    assert isinstance(req.generation, GenerationOptions)

@fuzz(150)
@given(opts=GEN)
def test_generation_options(opts):
    try: o = generation_options(opts)
    except InputError as e: assert '=' in str(e); return
    assert isinstance(o, GenerationOptions)

@fuzz(150)
@given(msgs=st.one_of(st.lists(MESSAGE, max_size=3), ANY_JSON))
def test_prepare_messages(msgs):
    "Messages are completed — the same roles, text made plain — or refused with a message saying what is wrong."
    try: out, infos = prepare_messages(msgs, S)
    except InputError as e: assert str(e); return
    assert [m['role'] for m in out] == [m['role'] for m in msgs] and all(isinstance(i, VisualInfo) for i in infos)
    for m in out:
        texts = [m['content']] if isinstance(m['content'], str) else [i['text'] for i in m['content'] if isinstance(i.get('text'), str)]
        for s in texts: assert plain_text(s) == s  # no control token left

@fuzz(150)
@given(text=st.text(alphabet=st.sampled_from(list('<|>_ab\u200b')), max_size=30))
def test_plain_text_leaves_no_control_token(text):
    import re
    out = plain_text(text)
    assert not re.search(r'<\|[A-Za-z0-9_]+\|>', out) and out.replace('\u200b', '') == text.replace('\u200b', '')

@fuzz(100)
@given(url=URLS)
def test_data_urls(url):
    "A data URL decodes to its media type and bytes — which encode to a URL that decodes to the same — or is refused, saying what is expected."
    try: mime, data = decode_data_url(url)
    except InputError as e: assert 'data URL' in str(e); return
    assert isinstance(data, bytes) and decode_data_url(data_url(data, mime)) == (mime, data)

@pytest.fixture(scope='module')
def live(tmp_path_factory):
    temp = tmp_path_factory.mktemp('fuzz-requests')
    svc = InferenceService(load_settings(model='tiny', temp_dir=temp, max_new_tokens=2, max_images=2)).start(background=False)
    srv = serve_in_thread(create_app(svc))
    with httpx.Client(base_url=srv.url, timeout=60) as http: yield http, temp
    srv.stop()

def _short(body):
    "Keep generations short on CPU: a valid request asks for at most 2 tokens."
    if isinstance(body, dict):
        for k in ('max_tokens', 'max_completion_tokens'):
            if isinstance(body.get(k), int) and not isinstance(body.get(k), bool) and 2 < body[k] <= 32768: body[k] = 2
        if isinstance(body.get('generation'), dict) and isinstance(body['generation'].get('max_new_tokens'), int): body['generation']['max_new_tokens'] = 1
    return body

PNG_URL = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC'
NEAR_VALID_CHAT = st.fixed_dictionaries({'messages': st.lists(st.fixed_dictionaries({'role': st.sampled_from(['user', 'system']),
    'content': st.one_of(st.text(max_size=30), st.lists(st.one_of(st.just({'type': 'image_url', 'image_url': {'url': PNG_URL}}),
                                                                  st.builds(lambda t: {'type': 'text', 'text': t}, st.text(max_size=30))), max_size=3))}),
    min_size=1, max_size=2)}, optional={'max_tokens': st.integers(1, 2), 'temperature': st.floats(0, 2), 'top_p': st.floats(0.01, 1),
    'top_k': st.integers(-1, 1000), 'seed': st.integers(0, 2**63 - 1), 'stop': st.lists(st.text(max_size=3), max_size=8), 'stream': st.booleans(),
    'repetition_penalty': st.floats(0.5, 2), 'stream_options': st.just({'include_usage': True})})
NEAR_VALID_TASK = st.fixed_dictionaries({'images': st.just([PNG_URL])}, optional={'mode': st.sampled_from(['text', 'detect', 'describe', 'x']),
    'fields': st.dictionaries(st.sampled_from(['target', 'query', 'schema', 'history', 'category']), SCALARS, max_size=2),
    'generation': GEN, 'prompt': st.text(max_size=20), 'prefill': st.text(max_size=20), 'draw': st.booleans()})

def _post(http, temp, kind, body, task):
    r = http.post('/v1/chat/completions' if kind == 'chat' else f'/v1/tasks/{task}', content=json.dumps(_short(body)),  # NaN, Infinity too
                  headers={'content-type': 'application/json'})
    assert r.status_code < 500, r.text
    event(f'{kind} {r.status_code}')
    if r.status_code >= 400: assert r.json()['error']['message']
    assert list(temp.iterdir()) == []
    return r

@fuzz(60)
@given(body=st.one_of(CHAT_BODY.map(lambda b: ('chat', b)), TASK_BODY.map(lambda b: ('task', b))), task=st.sampled_from(BUILTIN + ['nope']))
def test_server_never_answers_5xx(live, body, task):
    _post(*live, *body, task)

@fuzz(40)
@given(body=st.one_of(NEAR_VALID_CHAT.map(lambda b: ('chat', b)), NEAR_VALID_TASK.map(lambda b: ('task', b))), task=st.sampled_from(BUILTIN))
def test_server_answers_near_valid_requests(live, body, task):
    "Mostly valid requests with odd values: answered (200) or refused (4xx), never a 5xx."
    _post(*live, *body, task)

def test_the_coordinate_check_sees_boxes_points_and_actions():
    "The property above checks something: boxes, points and actions are found in results (and out-of-image ones clipped)."
    v = [image_visual((500, 400))]
    found = {k for t, text in [('spatial', '```json\n[{"bbox_2d": [-50, 20, 9000, 40], "label": "a"}]\n```'),
                               ('spatial', '```json\n[{"point_2d": [10, 9999]}]\n```'),
                               ('computer_use', '<tool_call>\n{"name": "computer_use", "arguments": {"action": "left_click_drag", "start_coordinate": [-5, 5], '
                                                '"coordinate": [9999, 5]}}\n</tool_call>')]
             for k, xy in coordinates(get_task(t).parse(text, v).to_dict()['data']) if max(xy[0::2]) <= 500 and max(xy[1::2]) <= 400}
    assert found == {'bbox', 'point', 'point2'}, found
