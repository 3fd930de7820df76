"Run every notebook in nbs/ as one test, so a failure names the notebook."
import re
from pathlib import Path
import pytest
from nbdev.config import get_config
from nbdev import test as nbdev_test

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT/'nbs').glob('*.ipynb'))

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook(nb):
    flags = (get_config(ROOT).tst_flags or '').split()
    ok, seconds = nbdev_test.test_nb(nb, skip_flags=flags, showerr=True)
    assert ok, f'{nb.name} failed (its traceback is printed above)'

def test_every_notebook_is_collected():
    "Every notebook below nbs/ is a test, every module of the package is exported by one of them, and the README's table names only these."
    assert set(NOTEBOOKS) == {p for p in (ROOT/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts}
    exported = {m.group(1) for nb in NOTEBOOKS if (m := re.search(r'#\| default_exp ([\w.]+)', nb.read_text()))}
    modules = {'.'.join(p.relative_to(ROOT/'qwen_vl').with_suffix('').parts) for p in (ROOT/'qwen_vl').rglob('*.py') if not p.name.startswith('_')}
    assert modules == exported, (modules ^ exported)
    named = set(re.findall(r'^\| `(\d\w+)`', (ROOT/'README.md').read_text(), re.M))  # the Develop table
    assert named and named <= {p.stem for p in NOTEBOOKS}, named - {p.stem for p in NOTEBOOKS}
