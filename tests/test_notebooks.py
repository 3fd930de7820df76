"Run every notebook in nbs/ as one test, so a failure names the notebook."
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
    assert len(NOTEBOOKS) >= 7, NOTEBOOKS
