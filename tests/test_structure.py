"The package's shape: every module imports on its own, no import cycle (top-level or inside functions), no private name shared between modules."
import ast, subprocess, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT/'qwen_vl'

def modules() -> dict[str, ast.Module]:
    "Each module of the package by dotted name, parsed."
    out = {}
    for p in sorted(PKG.rglob('*.py')):
        if p.name == '_modidx.py': continue
        name = '.'.join(p.relative_to(ROOT).with_suffix('').parts).removesuffix('.__init__')
        out[name] = ast.parse(p.read_text(), str(p))
    return out

def imported(name:str, tree:ast.Module, known:set) -> set[str]:
    "The package's modules `name` imports, at the top or inside functions."
    pkg = name if (PKG/Path(*name.split('.')[1:])/'__init__.py').exists() else name.rsplit('.', 1)[0]
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Import): targets = [a.name for a in n.names]
        elif isinstance(n, ast.ImportFrom):
            base = n.module or ''
            if n.level: base = '.'.join(pkg.split('.')[:len(pkg.split('.')) - n.level + 1] + ([n.module] if n.module else []))
            targets = [base] + [f'{base}.{a.name}' for a in n.names]
        else: continue
        out |= {t for t in targets if t in known}
    return out - {name}

def import_graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: imported(m, t, set(mods)) for m, t in mods.items()}

def find_cycle(graph:dict[str, set[str]]) -> list[str]|None:
    "One import cycle of `graph` as a path that ends where it starts, or None."
    state, stack = {}, []
    def visit(m):
        state[m] = 'open'; stack.append(m)
        for d in sorted(graph.get(m, ())):
            if d == 'qwen_vl': continue  # the package's __init__ holds only the version
            if state.get(d) == 'open': return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)): return c
        state[m] = 'done'; stack.pop()
    for m in sorted(graph):
        if m not in state and (c := visit(m)): return c
    return None

def test_find_cycle_finds_one():
    test = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert find_cycle(test) == ['a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b'}, 'b': set()}) is None

def test_the_graph_sees_lazy_and_relative_imports():
    g = import_graph()
    assert {'qwen_vl.config', 'qwen_vl.errors', 'qwen_vl.generation'} <= g['qwen_vl.engine']
    assert 'qwen_vl.fastpath' in g['qwen_vl.engine']  # imported inside a method
    assert 'qwen_vl.tasks.base' in g['qwen_vl.tasks.ocr']  # `from .base import ...` in a subpackage

def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, 'import cycle: ' + ' -> '.join(cycle)

def _import_alone(m:str) -> tuple[str, int, str]:
    r = subprocess.run([sys.executable, '-c', f'import {m}'], capture_output=True, text=True, cwd=ROOT, timeout=300)
    return m, r.returncode, r.stderr[-2000:]

def test_every_module_imports_on_its_own():
    "Each module imported first, in a fresh interpreter: no module needs another to have been imported before it."
    with ThreadPoolExecutor(2) as ex: results = list(ex.map(_import_alone, sorted(modules())))
    failed = {m: err for m, rc, err in results if rc}
    assert not failed, failed

def _private(n:str) -> bool: return n.startswith('_') and not n.startswith('__')

def private_uses(mods:dict[str, ast.Module]) -> list[str]:
    "Where a module uses a private name (`_x`) that another module of the package defines and it does not."
    defined = {}
    for m, t in mods.items():
        s = set()
        for n in ast.walk(t):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _private(n.name): s.add(n.name)
            elif isinstance(n, ast.Attribute) and isinstance(n.ctx, ast.Store) and _private(n.attr): s.add(n.attr)
            elif isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and _private(n.id): s.add(n.id)
        defined[m] = s
    bad = []
    for m, t in mods.items():
        elsewhere = set().union(*(s for o, s in defined.items() if o != m)) - defined[m]
        for n in ast.walk(t):
            if isinstance(n, ast.ImportFrom) and (n.level or (n.module or '').startswith('qwen_vl')):
                bad += [f'{m}:{n.lineno} imports {a.name}' for a in n.names if _private(a.name)]
            elif isinstance(n, ast.Attribute) and n.attr in elsewhere:
                bad.append(f'{m}:{n.lineno} uses {ast.unparse(n)}')
    return bad

def test_private_uses_are_found():
    mods = {'qwen_vl.a': ast.parse('class A:\n    def _run(self): pass'),
            'qwen_vl.b': ast.parse('from .a import _helper\ndef f(engine): return engine._run()')}
    assert private_uses(mods) == ['qwen_vl.b:1 imports _helper', 'qwen_vl.b:2 uses engine._run']

def test_no_private_name_used_across_modules():
    "Not by the package's modules, nor by the scripts in bench/ that drive it."
    scripts = {f'bench.{p.stem}': ast.parse(p.read_text(), str(p)) for p in sorted((ROOT/'bench').glob('*.py'))}
    bad = private_uses(modules() | scripts)
    assert not bad, bad

@pytest.mark.parametrize('m', ['qwen_vl.remote', 'qwen_vl.service', 'qwen_vl.generation'])
def test_modules_that_used_to_import_each_other(m):
    assert _import_alone(m)[1] == 0
