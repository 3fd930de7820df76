"The papermill integration suite (tests_nb/), one test per notebook, with the tiny model on the CPU."
import os
from pathlib import Path
import papermill as pm
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT/'tests_nb').glob('*.ipynb'))
OUT = ROOT/'build'/'tests_nb'

@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_papermill(nb):
    OUT.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault('HF_HUB_OFFLINE', '1')
    pm.execute_notebook(str(nb), str(OUT/nb.name), parameters=dict(model='tiny'), cwd=str(nb.parent),
                        kernel_name='python3', progress_bar=False)
