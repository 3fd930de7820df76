"The repository stands alone: it carries the data it runs on, reads nothing beside itself, and speaks of itself only."
import json, re, subprocess
from pathlib import Path
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
REF = ROOT/'reference'

def tracked(*patterns:str) -> list[Path]:
    out = subprocess.run(['git', 'ls-files', '-z', '--', *patterns], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [ROOT/p for p in out.split('\0') if p]

def test_nothing_reads_outside_the_repository():
    "No tracked code, notebook, test, doc or script names a folder beside the clone."
    bad = [str(p.relative_to(ROOT)) for p in tracked('*.py', '*.ipynb', '*.md', '*.sh', '*.yml', '*.yaml', '*.toml', '.ci/*')
           if re.search(r'\.\./shared|find_' 'shared', p.read_text(errors='ignore'))]
    assert bad == [], bad

def test_the_project_speaks_of_itself_alone():
    "No talk of who worked on it or how: sessions, lent machines, tool calls, issue numbers."
    words = re.compile(r'lent a' r' GPU|carry=\[|\bissue #\d|\bissue \d+\b|GPU sess' r'ion|no sess' r'ion|the sess' r'ion that|\blease\b', re.I)
    bad = [f'{p.relative_to(ROOT)}: {m.group(0)}' for p in tracked('*.py', '*.ipynb', '*.md', '*.sh', '*.yml', '.ci/*')
           if not p.is_relative_to(REF) for m in [words.search(p.read_text(errors='ignore'))] if m]
    assert bad == [], bad

def test_both_cookbook_sets_are_here_with_their_images_and_attribution():
    for name, n in [('qwen25vl-cookbooks', 32), ('qwen3vl-cookbooks', 29)]:
        outputs = json.loads((REF/name/'outputs.json').read_text())
        assert len(outputs) == n and all(e['output'] is not None and e['prompt'] is not None for e in outputs), name
        index = (REF/name/'assets/INDEX.md').read_text()
        files = set(re.findall(r'^\|? ?(?:assets/)?([\w/.-]+\.(?:png|jpe?g|json))\s*\|', index, re.M))
        assert files, name
        for f in files:
            p = REF/name/'assets'/f
            assert p.is_file(), p
            if p.suffix != '.json': Image.open(p).verify()
        assert 'Apache-2.0' in (REF/name/'README.md').read_text()
    assert 'Apache' in (REF/'README.md').read_text() and 'QwenLM/Qwen3-VL' in (REF/'README.md').read_text()

def test_every_local_image_of_the_qwen25_answers_is_here():
    "The answers the parsers are checked against point at images the repository has."
    for e in json.loads((REF/'qwen25vl-cookbooks/outputs.json').read_text()):
        ref = e['image_ref']
        if ref.startswith('http') or 'Origamis' in ref: continue  # remote videos; one image left out as too large
        assert (REF/'qwen25vl-cookbooks'/ref).is_file(), ref

def test_the_sample_video_is_here():
    p = ROOT/'samples/moving_bar.mp4'
    assert p.is_file() and 1_000 < p.stat().st_size < 200_000 and 'moving_bar.mp4' in (ROOT/'samples/README.md').read_text()
