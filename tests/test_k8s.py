"""Kubernetes manifests (deploy/k8s) and observability files (deploy/observability), checked statically and offline.

The kustomize builds are rendered here (a small kustomize: resources, `labels` pairs, strategic-merge patches) and
compared with `kubectl kustomize` where it is installed; every object is validated against the Kubernetes schema that
kubernetes-validate ships; probes, ports, env names and values, references and the HPA are checked against the
Dockerfile and `qwen_vl.config.Settings`; every PromQL metric and label name in the dashboard, the alerts and the
Prometheus adapter rule must occur in a real exposition of `qwen_vl.metrics.Metrics`."""
import copy, json, re, shutil, subprocess
from pathlib import Path
from types import SimpleNamespace
import pytest, yaml
import kubernetes_validate
from qwen_vl.config import Settings, load_settings
from qwen_vl.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
K8S, OBS = ROOT/'deploy/k8s', ROOT/'deploy/observability'
BUILDS = ['base', 'overlays/remote-vllm']
K8S_VERSION = '1.30.0'  # the oldest Kubernetes the manifests target; kubernetes-validate ships its schema (no network)
APP = 'qwen-vl'         # the Deployment, container, Service and HPA name

SETTINGS_ENV = {f.json_schema_extra['env'] for f in Settings.model_fields.values()}
# Variables read by the libraries underneath, not by qwen_vl's settings. Nothing named QWEN_* may be listed here.
EXTERNAL_ENV = {'HF_HOME', 'HF_TOKEN', 'HF_HUB_OFFLINE', 'MPLCONFIGDIR', 'XDG_CACHE_HOME', 'GRADIO_TEMP_DIR',
                'GRADIO_ANALYTICS_ENABLED'}
# Labels that the scrape (annotation-based pod job) and kube-state-metrics add, and the histogram bucket label.
SCRAPE_LABELS = {'le', 'job', 'instance', 'namespace', 'pod', 'app_kubernetes_io_name', 'deployment', '__name__'}
EXTERNAL_METRICS = {'up', 'kube_deployment_status_replicas_available', 'kube_deployment_spec_replicas'}

# ---------------------------------------------------------------- a small kustomize
def load_docs(path:Path) -> list[dict]: return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]

def _named(xs) -> bool: return all(isinstance(x, dict) and 'name' in x for x in xs)

def _without_nulls(v):
    if isinstance(v, dict): return {k: _without_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list): return [_without_nulls(x) for x in v]
    return v

def smp(base, patch):
    "Strategic merge as kustomize does it for what these manifests use: null deletes, lists of named items merge by name."
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            if v is None: out.pop(k, None)
            else: out[k] = smp(out[k], v) if k in out else _without_nulls(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and base and patch and _named(base) and _named(patch):
        out, names = list(base), [x['name'] for x in base]
        for x in patch:
            if x['name'] in names: out[names.index(x['name'])] = smp(out[names.index(x['name'])], x)
        return [_without_nulls(x) for x in patch if x['name'] not in names] + out  # new items first, as kustomize puts them
    return _without_nulls(patch)

def render(d:Path) -> list[dict]:
    "The objects `kubectl kustomize d` builds."
    k = yaml.safe_load((d/'kustomization.yaml').read_text())
    assert k['kind'] == 'Kustomization' and set(k) <= {'apiVersion', 'kind', 'resources', 'patches', 'labels'}, f'{d}: extend render() first'
    objs = []
    for r in k.get('resources', []): objs += render(d/r) if (d/r).is_dir() else load_docs(d/r)
    objs = copy.deepcopy(objs)
    for p in k.get('patches', []):
        assert set(p) == {'path'}, f'{d}: only strategic-merge patch files are rendered here'
        for patch in load_docs(d/p['path']):
            hits = [i for i, o in enumerate(objs) if (o['kind'], o['metadata']['name']) == (patch['kind'], patch['metadata']['name'])]
            assert len(hits) == 1, f"{p['path']}: patch target {patch['kind']}/{patch['metadata']['name']} not found once"
            objs[hits[0]] = smp(objs[hits[0]], patch)
    for lab in k.get('labels', []):
        assert set(lab) == {'pairs'}, 'only metadata labels are rendered here'
        for o in objs: o['metadata'].setdefault('labels', {}).update(lab['pairs'])
    return objs

@pytest.fixture(scope='module', params=BUILDS)
def build(request): return request.param, render(K8S/request.param)

def find(objs, kind, name=APP) -> dict:
    hits = [o for o in objs if o['kind'] == kind and o['metadata']['name'] == name]
    assert len(hits) == 1, f'{kind}/{name}: {len(hits)} found'
    return hits[0]

def container(objs, deployment=APP) -> dict:
    return next(c for c in find(objs, 'Deployment', deployment)['spec']['template']['spec']['containers'] if c['name'] == deployment)

def dockerfile() -> dict:
    "What the image says: USER, EXPOSE, ENTRYPOINT, CMD, ENV."
    text = re.sub(r'\\\n', ' ', (ROOT/'Dockerfile').read_text())
    last = lambda word: ([m.group(1).strip() for m in re.finditer(rf'^{word}\s+(.*)$', text, re.M)] or [None])[-1]
    env = {}
    for m in re.finditer(r'^ENV\s+(.*)$', text, re.M): env.update(re.findall(r'(\w+)=(\S+)', m.group(1)))
    cmd, ep = last('CMD'), last('ENTRYPOINT')
    return dict(user=last('USER'), expose=int(last('EXPOSE')), entrypoint=json.loads(ep) if ep else None, cmd=json.loads(cmd), env=env)

# ---------------------------------------------------------------- layout and schemas
def test_every_folder_is_a_kustomization_that_uses_all_its_files():
    folders = {p.parent for p in K8S.rglob('*.yaml')}
    assert {K8S/b for b in BUILDS} <= folders
    for d in folders:
        k = yaml.safe_load((d/'kustomization.yaml').read_text())
        used = {r for r in k.get('resources', []) if not (d/r).is_dir()} | {p['path'] for p in k.get('patches', [])}
        files = {p.name for p in d.glob('*.yaml')} - {'kustomization.yaml'}
        assert files == used, f'{d.relative_to(ROOT)}: files not in kustomization.yaml: {files - used}; missing: {used - files}'

def schema_errors(objs) -> list[str]:
    assert K8S_VERSION in kubernetes_validate.utils.all_versions(), f'kubernetes-validate no longer ships {K8S_VERSION}: raise K8S_VERSION'
    errs = []
    for o in objs:
        try: kubernetes_validate.validate(o, K8S_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as e:
            errs.append(f"{o.get('kind')}/{o.get('metadata', {}).get('name')}: {str(e).splitlines()[0]}")
    return errs

def test_manifests_validate_against_the_kubernetes_schema(build):
    name, objs = build
    assert schema_errors(objs) == [], name
    kinds = {o['kind'] for o in objs}
    assert {'Deployment', 'Service', 'ConfigMap', 'Secret', 'HorizontalPodAutoscaler', 'PodDisruptionBudget'} <= kinds

def test_schema_check_catches_mistakes():
    objs = render(K8S/'base')
    bad = copy.deepcopy(find(objs, 'Deployment'))
    c = bad['spec']['template']['spec']['containers'][0]
    c['readinesProbe'] = c.pop('readinessProbe')  # misspelled field
    assert schema_errors([bad])
    bad = copy.deepcopy(find(objs, 'HorizontalPodAutoscaler'))
    bad['spec']['metrics'][0]['type'] = 'Pods'; bad['spec']['metrics'][0]['pods']['target']['averageValue'] = {'x': 1}
    assert schema_errors([bad])

@pytest.mark.skipif(not shutil.which('kubectl'), reason='kubectl not installed')
@pytest.mark.parametrize('name', BUILDS)
def test_render_matches_kubectl_kustomize(name):
    p = subprocess.run(['kubectl', 'kustomize', str(K8S/name)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    key = lambda o: (o['kind'], o['metadata']['name'])
    assert sorted(load_docs_text(p.stdout), key=key) == sorted(render(K8S/name), key=key)

def load_docs_text(text:str) -> list[dict]: return [d for d in yaml.safe_load_all(text) if d is not None]

# ---------------------------------------------------------------- the qwen-vl pods
def port_of(c:dict, port) -> int:
    return port if isinstance(port, int) else next(p['containerPort'] for p in c['ports'] if p.get('name') == port)

def test_container_runs_the_image_as_built(build):
    name, objs = build
    d, c = dockerfile(), container(objs)
    spec = find(objs, 'Deployment')['spec']['template']['spec']
    assert c['image'] == 'ghcr.io/qwen-vl/qwen_vl:latest' and c['args'] == ['serve', '--host', '0.0.0.0']
    # args replace the image's CMD; without an ENTRYPOINT the program must come from `command`
    assert (d['entrypoint'] or c.get('command')) == d['cmd'][:1], 'args without command would run `serve` as the program'
    assert [p['containerPort'] for p in c['ports']] == [d['expose']]
    cm = find(objs, 'ConfigMap', 'qwen-vl-config')['data']
    assert int(cm.get('GRADIO_SERVER_PORT', Settings.model_fields['gradio_server_port'].default)) == d['expose']
    sc = spec['securityContext']
    assert sc['runAsNonRoot'] is True and str(sc['runAsUser']) == d['user'] == '1000'
    assert c['securityContext']['allowPrivilegeEscalation'] is False and spec['terminationGracePeriodSeconds'] >= 30
    svc = find(objs, 'Service')
    assert svc['spec']['type'] == 'ClusterIP' and svc['spec']['ports'][0]['port'] == 80
    assert port_of(c, svc['spec']['ports'][0]['targetPort']) == d['expose']
    ann = find(objs, 'Deployment')['spec']['template']['metadata']['annotations']
    assert ann['prometheus.io/scrape'] == 'true' and ann['prometheus.io/path'] == '/metrics' and int(ann['prometheus.io/port']) == d['expose']

def test_probes_point_at_readyz_and_healthz_on_the_container_port(build):
    name, objs = build
    c, port = container(objs), dockerfile()['expose']
    want = {'readinessProbe': '/readyz', 'livenessProbe': '/healthz', 'startupProbe': '/healthz'}
    for probe, path in want.items():
        g = c[probe]['httpGet']
        assert g['path'] == path and port_of(c, g['port']) == port, (name, probe, g)
    s = c['startupProbe']
    assert s.get('periodSeconds', 10) * s.get('failureThreshold', 3) >= 300, 'startup needs a long budget (imports, first start)'

def writable_mounts(c:dict, spec:dict) -> list[str]:
    vols = {v['name'] for v in spec.get('volumes', [])}
    assert {m['name'] for m in c.get('volumeMounts', [])} <= vols, 'a volumeMount names no volume'
    return [m['mountPath'] for m in c.get('volumeMounts', []) if not m.get('readOnly')]

def test_read_only_root_filesystem_leaves_the_paths_it_writes_writable(build):
    name, objs = build
    c, spec = container(objs), find(objs, 'Deployment')['spec']['template']['spec']
    assert c['securityContext']['readOnlyRootFilesystem'] is True
    env = dockerfile()['env'] | find(objs, 'ConfigMap', 'qwen-vl-config')['data'] | {e['name']: e['value'] for e in c.get('env', []) if 'value' in e}
    mounts = writable_mounts(c, spec)
    for var in ['QWEN_VL_TEMP_DIR', 'HF_HOME', 'QWEN_VL_CACHE', 'MPLCONFIGDIR', 'XDG_CACHE_HOME', 'GRADIO_TEMP_DIR']:
        assert var in env and any(env[var] == m or env[var].startswith(m.rstrip('/') + '/') for m in mounts), (name, var, env.get(var), mounts)

def env_names(objs, c:dict) -> set[str]:
    "Every variable the container gets: `env`, and the keys of the ConfigMaps and Secrets of `envFrom`."
    names = {e['name'] for e in c.get('env', [])}
    for src in c.get('envFrom', []):
        if 'configMapRef' in src: names |= set(find(objs, 'ConfigMap', src['configMapRef']['name']).get('data', {}))
        if 'secretRef' in src:
            s = find(objs, 'Secret', src['secretRef']['name']); names |= set(s.get('stringData', {})) | set(s.get('data', {}))
    return names

def env_problems(names:set[str], settings:set[str]=SETTINGS_ENV) -> list[str]:
    return sorted(n for n in names if n not in settings and not (n in EXTERNAL_ENV and not n.startswith('QWEN_')))

def test_every_env_name_is_a_setting(build):
    name, objs = build
    assert not any(n.startswith('QWEN_') for n in EXTERNAL_ENV)
    names = env_names(objs, container(objs))
    assert 'QWEN_API_KEYS' in names and 'QWEN_VL_TEMP_DIR' in names
    assert env_problems(names) == [], name

def test_env_check_catches_mistakes():
    assert env_problems({'QWEN_MAX_IMAGE', 'QWEN_MODEL'}) == ['QWEN_MAX_IMAGE']
    assert env_problems({'QWEN_VL_REMOTE_URL'}, settings={'QWEN_VL_BACKEND'}) == ['QWEN_VL_REMOTE_URL']
    assert env_problems({'HF_TOKEN', 'QWEN_VL_BACKEND'}) == []  # outside settings, and a setting

def test_env_values_load_as_settings(build):
    "The ConfigMap, the literal values and the Secrets' placeholders make valid settings."
    name, objs = build
    c = container(objs)
    env = dict(find(objs, 'ConfigMap', 'qwen-vl-config')['data'])
    for e in c.get('env', []):
        if 'value' in e: env[e['name']] = e['value']
        elif 'secretKeyRef' in (ref := e['valueFrom']):
            data = find(objs, 'Secret', ref['secretKeyRef']['name']).get('stringData', {})
            if ref['secretKeyRef']['key'] in data: env[e['name']] = data[ref['secretKeyRef']['key']]
    s = load_settings(env=env)
    assert s.api_keys == [] and str(s.temp_dir) == env['QWEN_VL_TEMP_DIR'] and s.log_format == 'json'

def test_references_resolve(build):
    "ConfigMaps and Secrets referenced exist (with the key, unless optional); Services, HPA and PDB select the pods."
    name, objs = build
    for dep in [o for o in objs if o['kind'] == 'Deployment']:
        spec = dep['spec']['template']['spec']
        labels = dep['spec']['template']['metadata']['labels']
        assert dep['spec']['selector']['matchLabels'].items() <= labels.items()
        for c in spec['containers']:
            writable_mounts(c, spec)
            for src in c.get('envFrom', []):
                for kind, ref in [('ConfigMap', 'configMapRef'), ('Secret', 'secretRef')]:
                    if ref in src: find(objs, kind, src[ref]['name'])
            for e in c.get('env', []):
                for kind, ref in [('ConfigMap', 'configMapKeyRef'), ('Secret', 'secretKeyRef')]:
                    if ref not in e.get('valueFrom', {}): continue
                    r, o = e['valueFrom'][ref], find(objs, kind, e['valueFrom'][ref]['name'])
                    assert r.get('optional') or r['key'] in o.get('data', {}) | o.get('stringData', {}), (name, e['name'])
    for svc in [o for o in objs if o['kind'] == 'Service']:
        dep = find(objs, 'Deployment', svc['metadata']['name'])
        assert svc['spec']['selector'].items() <= dep['spec']['template']['metadata']['labels'].items()
        c = dep['spec']['template']['spec']['containers'][0]
        for p in svc['spec']['ports']: port_of(c, p['targetPort'])
    hpa, pdb = find(objs, 'HorizontalPodAutoscaler'), find(objs, 'PodDisruptionBudget')
    ref = hpa['spec']['scaleTargetRef']
    assert (ref['apiVersion'], ref['kind']) == ('apps/v1', 'Deployment') and find(objs, 'Deployment', ref['name'])
    assert 1 <= hpa['spec']['minReplicas'] <= hpa['spec']['maxReplicas']
    assert pdb['spec']['selector']['matchLabels'].items() <= find(objs, 'Deployment')['spec']['template']['metadata']['labels'].items()

def adapter_rule() -> dict:
    rules = yaml.safe_load((OBS/'prometheus-adapter-values.yaml').read_text())['rules']['custom']
    return next(r for r in rules if 'num_requests_waiting' in r['seriesQuery'])

def test_base_runs_on_one_gpu_and_scales_on_the_queue():
    objs = render(K8S/'base')
    res = container(objs)['resources']
    assert res['limits']['nvidia.com/gpu'] == 1 and {'cpu', 'memory'} <= set(res['requests'])
    (m,) = find(objs, 'HorizontalPodAutoscaler')['spec']['metrics']
    assert m['type'] == 'Pods' and m['pods']['target']['type'] == 'AverageValue'
    rule = adapter_rule()  # the adapter must serve the name the HPA asks for, from the gauge the service exposes
    assert m['pods']['metric']['name'] == rule['name']['as'] == 'qwen_vl_num_requests_waiting'
    assert re.search(rule['name']['matches'], 'qwen_vl:num_requests_waiting')
    assert {'namespace', 'pod'} <= set(rule['resources']['overrides'])

def test_remote_overlay_uses_vllm_from_cpu_pods():
    objs = render(K8S/'overlays/remote-vllm')
    c = container(objs)
    for k in ('limits', 'requests'): assert 'nvidia.com/gpu' not in c['resources'].get(k, {})
    assert not find(objs, 'Deployment')['spec']['template']['spec'].get('tolerations')
    env = {e['name']: e for e in c['env']}
    assert env['QWEN_VL_BACKEND']['value'] == 'remote'
    url = env['QWEN_VL_REMOTE_URL']['value']
    m = re.fullmatch(r'http://([a-z0-9-]+):(\d+)/v1', url)
    assert m, url
    svc = find(objs, 'Service', m[1])
    (sp,) = [p for p in svc['spec']['ports'] if p['port'] == int(m[2])]
    vllm = container(objs, 'vllm')
    assert port_of(vllm, sp['targetPort']) == 8000 and vllm['image'].startswith('vllm/vllm-openai')
    args = vllm['args']
    assert env['QWEN_VL_REMOTE_MODEL']['value'] == args[args.index('--model') + 1] == 'Qwen/Qwen2.5-VL-7B-Instruct'
    key = {e['name']: e for e in vllm['env']}['VLLM_API_KEY']['valueFrom']['secretKeyRef']
    assert env['QWEN_VL_REMOTE_API_KEY']['valueFrom']['secretKeyRef'] == key
    assert vllm['resources']['limits']['nvidia.com/gpu'] >= 1
    for probe in ('readinessProbe', 'startupProbe', 'livenessProbe'): assert vllm[probe]['httpGet']['path'] == '/health'
    assert find(objs, 'Deployment', 'vllm')['spec']['template']['spec']['enableServiceLinks'] is False  # no VLLM_PORT=tcp://...
    assert '--tensor-parallel-size' in (K8S/'overlays/remote-vllm/vllm.yaml').read_text()
    (m,) = find(objs, 'HorizontalPodAutoscaler')['spec']['metrics']
    assert m['type'] == 'Resource' and m['resource']['name'] == 'cpu'

# ---------------------------------------------------------------- metrics: dashboard, alerts, adapter rule
@pytest.fixture(scope='module')
def exposition() -> dict[str, set[str]]:
    "Sample names and their labels in a real exposition, after one generation, one error, one cache hit, the queue gauges."
    m = Metrics()
    res = SimpleNamespace(timings={'ttft_s': 0.12, 'decode_s': 0.9}, completion_tokens=10, prompt_tokens=1420, finish_reason='length',
                          decode_path='fast-cuda-graph')
    m.observe('tiny', 'chat', res, 0.01, 1.1)
    m.errors.labels('tiny', 'chat', 'invalid_request_error').inc()
    m.cache_hits.labels('tiny', 'chat').inc()
    m.waiting.labels('tiny').set(0); m.running.labels('tiny').set(0)
    names: dict[str, set[str]] = {}
    for line in m.exposition()[0].decode().splitlines():
        if not line or line.startswith('#'): continue
        mm = re.match(r'([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s', line)
        names.setdefault(mm[1], set()).update(re.findall(r'(\w+)="', mm[2] or ''))
    assert 'qwen_vl:request_success_total' in names and 'qwen_vl:num_requests_waiting' in names
    return names

PROMQL_WORDS = {'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'bool', 'offset'}

def promql_refs(expr:str) -> tuple[set[str], set[str]]:
    "The metric names and label names an expression uses (`__name__` regexes of the form `a(b|c)d` expanded)."
    metrics, labels = set(), set()
    for body in re.findall(r'\{([^{}]*)\}', expr):
        for lab, op, val in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"', body):
            labels.add(lab)
            if lab != '__name__': continue
            assert op in ('=', '=~'), expr
            g = re.fullmatch(r'([\w:]*)\(([\w:|]+)\)([\w:]*)', val)
            metrics |= {g[1] + alt + g[3] for alt in g[2].split('|')} if g else {val}
            assert g or re.fullmatch(r'[\w:]+', val), f'keep __name__ regexes to one (a|b) group: {val}'
    s = re.sub(r'\{[^{}]*\}|\[[^\]]*\]|"(?:[^"\\]|\\.)*"', ' ', expr)
    for words in re.findall(r'\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)', s):
        labels |= {w.strip() for w in words.split(',') if w.strip()}
    s = re.sub(r'\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', s)
    for name, call in re.findall(r'(?<![\w:.$])([a-zA-Z_:][\w:]*)(\s*\()?', s):
        if not call and name not in PROMQL_WORDS: metrics.add(name)
    return metrics, labels

def promql_problems(expr:str, exposed:dict[str, set[str]]) -> list[str]:
    metrics, labels = promql_refs(expr)
    known_labels = set().union(*exposed.values()) | SCRAPE_LABELS
    out = [f'unknown metric {n}' for n in sorted(metrics - set(exposed) - EXTERNAL_METRICS)]
    return out + [f'unknown label {lab}' for lab in sorted(labels - known_labels)]

def test_promql_check_catches_mistakes(exposition):
    ok = 'sum by (task, finished_reason) (rate(qwen_vl:request_success_total{model=~"$model"}[$__rate_interval]))'
    assert promql_refs(ok) == ({'qwen_vl:request_success_total'}, {'task', 'finished_reason', 'model'})
    assert promql_problems(ok, exposition) == []
    assert promql_problems('rate(qwen_vl:request_error_total[5m])', exposition) == ['unknown metric qwen_vl:request_error_total']
    assert promql_problems('rate(qwen_vl:request_errors[5m])', exposition) == ['unknown metric qwen_vl:request_errors']  # no _total
    assert promql_problems('sum by (finish_reason) (rate(qwen_vl:request_success_total[5m]))', exposition) == ['unknown label finish_reason']
    assert promql_problems('sum(rate({__name__=~"qwen_vl:(request_success|cache_hit)_total"}[5m]))', exposition) == ['unknown metric qwen_vl:cache_hit_total']
    assert promql_problems('histogram_quantile(0.95, sum by (le) (rate(qwen_vl:time_to_first_token_seconds[5m]))) > 2', exposition)

def dashboard() -> dict: return json.loads((OBS/'grafana-dashboard.json').read_text())

def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get('panels', []))

def dashboard_exprs() -> list[str]: return [t['expr'] for p in all_panels(dashboard()['panels']) for t in p.get('targets', [])]

def test_dashboard_is_importable_with_a_prometheus_input_and_a_model_variable():
    d = dashboard()
    panels = list(all_panels(d['panels']))
    ids = [p['id'] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
    assert [(i['name'], i['type'], i['pluginId']) for i in d['__inputs']] == [('DS_PROMETHEUS', 'datasource', 'prometheus')]
    for p in panels:
        if p['type'] == 'row': continue
        assert p['targets'] and p['datasource']['uid'] == '${DS_PROMETHEUS}', p['title']
        assert all(t['datasource']['uid'] == '${DS_PROMETHEUS}' for t in p['targets']) and len({t['refId'] for t in p['targets']}) == len(p['targets'])
    (var,) = [v for v in d['templating']['list'] if v['name'] == 'model']
    assert var['datasource']['uid'] == '${DS_PROMETHEUS}'
    for e in dashboard_exprs():  # every series the dashboard reads is filtered by the chosen model(s)
        assert all('model=~"$model"' in body for body in re.findall(r'\{([^{}]*)\}', e) if 'qwen_vl:' in body or '__name__' in body), e
        assert '$model' in e
    used = set().union(*(promql_refs(e)[0] for e in dashboard_exprs()))
    for m in ['request_success_total', 'request_errors_total', 'num_requests_waiting', 'num_requests_running', 'e2e_request_latency_seconds_bucket',
              'time_to_first_token_seconds_bucket', 'generation_tokens_total', 'decode_path_requests_total', 'cache_hits_total']:
        assert 'qwen_vl:' + m in used, m

def alert_rules() -> list[dict]:
    return [r for g in yaml.safe_load((OBS/'alerts.yaml').read_text())['groups'] for r in g['rules']]

def test_alert_rules_are_complete():
    rules = alert_rules()
    assert len({r['alert'] for r in rules}) == len(rules)
    for r in rules:
        assert r['expr'].strip() and re.fullmatch(r'\d+[smh]', r['for']), r['alert']
        assert r['labels']['severity'] in ('critical', 'warning') and r['annotations']['summary'], r['alert']
    by_metric = lambda name: [r for r in rules if name in r['expr']]
    assert by_metric('qwen_vl:request_errors_total') and '0.01' in by_metric('qwen_vl:request_errors_total')[0]['expr']
    assert by_metric('qwen_vl:num_requests_waiting')[0]['for'] == '5m'
    ttft = by_metric('qwen_vl:time_to_first_token_seconds_bucket')[0]
    assert 'histogram_quantile(0.95' in ttft['expr'] and ttft['for'] == '10m'
    assert re.search(r'\bup\{[^}]*\}\s*==\s*0', ' '.join(r['expr'] for r in rules))
    (fallback,) = [r for r in by_metric('qwen_vl:decode_path_requests_total') if 'path="hf"' in r['expr']]
    assert fallback['labels']['severity'] == 'warning'

def test_every_promql_name_is_exposed(exposition):
    exprs = [('dashboard', e) for e in dashboard_exprs()] + [(r['alert'], r['expr']) for r in alert_rules()]
    exprs.append(('adapter', adapter_rule()['seriesQuery']))
    q = next(v for v in dashboard()['templating']['list'] if v['name'] == 'model')['definition']
    metric, label = re.fullmatch(r'label_values\(([\w:]+),\s*(\w+)\)', q).groups()
    exprs.append(('model variable', f'sum by ({label}) ({metric})'))
    problems = {(where, e.strip()[:60]): promql_problems(e, exposition) for where, e in exprs}
    assert {k: v for k, v in problems.items() if v} == {}

@pytest.mark.skipif(not shutil.which('promtool'), reason='promtool not installed')
def test_promtool_checks_the_rules():
    p = subprocess.run(['promtool', 'check', 'rules', str(OBS/'alerts.yaml')], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    tests = OBS/'alerts-test.yaml'
    if tests.exists():
        p = subprocess.run(['promtool', 'test', 'rules', tests.name], capture_output=True, text=True, timeout=60, cwd=OBS)
        assert p.returncode == 0, p.stdout + p.stderr
