"Deployment files, checked statically (no Docker engine runs here): Dockerfile, compose file, .env.example, CI workflow."
import re, shutil, subprocess, tomllib
from pathlib import Path
import pytest, yaml
from qwen_vl.config import load_settings, settings_table

ROOT = Path(__file__).resolve().parent.parent

def env_example() -> dict:
    lines = (ROOT/'.env.example').read_text().splitlines()
    return dict(l.split('=', 1) for l in lines if l and not l.startswith('#'))

def test_env_example_lists_every_setting_and_loads():
    env = env_example()
    names = {r['env'] for r in settings_table()}
    assert names <= set(env), names - set(env)
    assert set(env) - names <= {'QWEN_VL_CONFIG', 'HF_HUB_OFFLINE', 'HF_TOKEN'}
    s = load_settings(env={k: v for k, v in env.items() if k != 'QWEN_VL_CONFIG'})
    assert s == load_settings(env={})  # the example holds the defaults

def test_dockerfile_is_a_production_image_and_serves():
    "The image installs the package with its runtime extras — the app and tracing — and none of the development tools."
    d = (ROOT/'Dockerfile').read_text()
    installs = re.findall(r'pip install (?:--no-cache-dir )?(\S+)', d)
    assert installs == ['".[app,tracing]"'], installs
    assert 'python3 -m venv .venv' in d and '[dev]' not in d and not re.search(r'pytest|playwright|nbdev|jupyter', d)
    extras = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['optional-dependencies']
    assert any(r.startswith('gradio') for r in extras['app']) and any('opentelemetry-sdk' in r for r in extras['tracing'])
    assert not any(re.match(r'(pytest|playwright|nbdev|ruff|jupyterlab)\b', r) for x in ('app', 'tracing') for r in extras[x])
    assert re.search(r'^USER 1000$', d, re.M) and 'HEALTHCHECK' in d and '/healthz' in d
    assert d.strip().splitlines()[-1] == 'CMD ["qwen-vl", "serve"]' and 'VOLUME ["/models", "/logs"]' in d

@pytest.mark.skipif(not shutil.which('hadolint'), reason='hadolint not installed')
def test_hadolint():
    p = subprocess.run(['hadolint', '--ignore', 'DL3008', '--ignore', 'DL3013', str(ROOT/'Dockerfile')], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr

def test_compose_file():
    c = yaml.safe_load((ROOT/'docker-compose.yml').read_text())
    svc = c['services']['qwen-vl']
    assert svc['restart'] == 'unless-stopped' and svc['env_file'] == '.env'
    dev = svc['deploy']['resources']['reservations']['devices'][0]
    assert dev['driver'] == 'nvidia' and 'gpu' in dev['capabilities']
    assert any(v.startswith('models:') for v in svc['volumes']) and any('/logs' in v for v in svc['volumes'])
    assert '/healthz' in ' '.join(svc['healthcheck']['test'])
    assert all(p.startswith('127.0.0.1:') for p in svc['ports'])  # published on loopback unless changed

def test_ci_workflow_runs_the_ci_script():
    wf = yaml.safe_load((ROOT/'.github/workflows/ci.yml').read_text())
    steps = [s.get('run', '') for job in wf['jobs'].values() for s in job['steps']]
    assert any('.ci/run' in s for s in steps) and any('ruff' in s for s in steps) and any('docker build' in s for s in steps)
