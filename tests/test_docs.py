"Docs checks that need no Quarto: every public name of the package is documented."
import importlib, inspect, pkgutil
import qwen_vl

def public_names():
    for m in pkgutil.walk_packages(qwen_vl.__path__, 'qwen_vl.'):
        if m.name.rsplit('.', 1)[-1].startswith('_'): continue
        mod = importlib.import_module(m.name)
        for name in getattr(mod, '__all__', []):
            obj = getattr(mod, name)
            if inspect.isfunction(obj) or inspect.isclass(obj): yield f'{m.name}.{name}', obj

def test_every_public_function_and_class_has_a_docstring():
    names = dict(public_names())
    assert len(names) > 80
    missing = [n for n, o in names.items() if not (o.__doc__ or '').strip() or (inspect.isclass(o) and o.__doc__ == inspect.getdoc(o.__mro__[1]) and o.__doc__ is o.__mro__[1].__doc__)]
    assert not missing, missing

def configuration_markdown() -> str:
    "docs/configuration.md, generated from the settings themselves."
    import json
    from qwen_vl.config import settings_table
    rows = ['# Configuration reference', '',
            'Settings are read once into one `Settings` object: defaults ← YAML file (`--config FILE` or `QWEN_VL_CONFIG`) ← '
            'environment ← command-line flags. In YAML use the field name or the variable name. Lists and dicts are JSON in '
            'the environment; an empty variable means unset. A bad value stops at load with the setting, its variable, the '
            'value and what is allowed. `.env.example` lists the same variables.', '',
            '| variable | YAML field | default | meaning |', '|---|---|---|---|']
    for r in settings_table():
        d = r['default']
        d = '–' if d is None else json.dumps(d) if isinstance(d, (list, dict)) else str(d)
        rows.append(f"| `{r['env']}` | `{r['field']}` | `{d}` | {r['description'].replace('|', chr(92) + '|')} |")
    return '\n'.join(rows) + '\n'

def test_configuration_reference_is_current():
    "Regenerate with: python -c 'import tests.test_docs as t; open(\"docs/configuration.md\", \"w\").write(t.configuration_markdown())'"
    from pathlib import Path
    assert (Path(__file__).parent.parent/'docs/configuration.md').read_text() == configuration_markdown()
