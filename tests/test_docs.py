"""Docs checks that need no Quarto: every public name of the package is documented, the configuration reference is
current, the sidebar lists every page of nbs/, and the links and images of the README, the guide pages and the
notebooks' prose resolve."""
import importlib, inspect, pkgutil, re, subprocess
from pathlib import Path
import yaml
import qwen_vl

ROOT = Path(__file__).resolve().parent.parent
NBS = ROOT/'nbs'

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
    "nbs/configuration.md, generated from the settings themselves."
    import json
    from qwen_vl.config import settings_table
    rows = ['---', 'title: "Configuration reference"', 'description: "Every setting: its environment variable, YAML field, default and meaning"',
            '---', '',
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
    "Regenerate with: python -c 'import tests.test_docs as t; open(\"nbs/configuration.md\", \"w\").write(t.configuration_markdown())'"
    assert (NBS/'configuration.md').read_text() == configuration_markdown()

# The site: nbs/ is the one docs tree. nbdev names a notebook's page by its name without the number
# (57_api.ipynb → api.html); a Markdown page keeps its name (http_api.md → http_api.html).

def site_pages() -> dict[str, Path]:
    "The pages of the site, by their address below the site's root without `.html`: every notebook and Markdown page of nbs/."
    pages = {}
    for p in NBS.rglob('*'):
        rel = p.relative_to(NBS)
        if p.suffix not in ('.ipynb', '.md', '.qmd') or any(o[0] in '._' for o in rel.parts): continue
        pages[str(rel.with_name(re.sub(r'^\d+_', '', p.stem)))] = p
    return pages

def guide_pages() -> list[Path]: return sorted(p for p in site_pages().values() if p.suffix != '.ipynb')

def sidebar_entries(node) -> list[str]:
    "The files a Quarto sidebar's `contents` names, in order (sections' labels are not files)."
    if isinstance(node, str): return [node]
    if isinstance(node, list): return [e for n in node for e in sidebar_entries(n)]
    if isinstance(node, dict):
        own = [v for k in ('href', 'section') if isinstance(v := node.get(k), str) and re.search(r'\.(ipynb|md|qmd)$', v)]
        return own + sidebar_entries(node.get('contents', []))
    return []

def test_sidebar_lists_every_page_once():
    entries = sidebar_entries(yaml.safe_load((NBS/'sidebar.yml').read_text())['website']['sidebar']['contents'])
    assert 'index.ipynb' in entries and 'http_api.md' in entries and len(entries) > 30, entries
    assert not [e for e in entries if not (NBS/e).is_file()], 'the sidebar names pages that are not in nbs/'
    assert len(entries) == len(set(entries)), [e for e in entries if entries.count(e) > 1]
    unlisted = sorted(str(p.relative_to(NBS)) for p in site_pages().values() if str(p.relative_to(NBS)) not in entries)
    assert not unlisted, f'pages of nbs/ missing from nbs/sidebar.yml: {unlisted}'

def test_guide_pages_have_a_title_and_no_second_one():
    assert len(guide_pages()) >= 5
    for p in guide_pages():
        text = p.read_text()
        assert text.startswith('---\n'), f'{p.name}: no front matter'
        assert yaml.safe_load(text.split('---\n')[1]).get('title'), f'{p.name}: no title in its front matter'
        assert not re.search(r'^# ', strip_code(text), re.M), f'{p.name}: a level-1 heading repeats the title'

def site_url() -> str: return yaml.safe_load((NBS/'nbdev.yml').read_text())['website']['site-url'].rstrip('/') + '/'

def carried_files() -> set[str]:
    "The files a commit would carry, as paths from the root: tracked or new and not ignored, and on disk."
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {f for f in out.splitlines() if (ROOT/f).is_file()}

def strip_code(text:str) -> str:
    "`text` without its fenced code blocks and inline code."
    return re.sub(r'`[^`\n]*`', '', re.sub(r'^(```|~~~).*?^\1', '', text, flags=re.M | re.S))

def link_targets(text:str) -> list[str]:
    "Where the Markdown links and images and the HTML `src`/`href` of `text` point, outside code."
    text = strip_code(text)
    return (re.findall(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)', text)
            + re.findall(r'\b(?:src|href)\s*=\s*["\']([^"\']+)', text))

def anchors(page:Path) -> set[str]:
    "The ids of a Markdown page's headings, as Pandoc makes them (and explicit `{#id}`s)."
    ids = set()
    for h in re.findall(r'^#{1,6}\s+(.*)$', re.sub(r'^(```|~~~).*?^\1', '', page.read_text(), flags=re.M | re.S), re.M):
        if m := re.search(r'\{#([^}\s]+)[^}]*\}\s*$', h): ids.add(m[1]); continue
        s = re.sub(r'[^\w\s.-]', '', re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', h).replace('`', '')).strip().lower()
        ids.add(re.sub(r'^[^a-z]+', '', re.sub(r'\s+', '-', s)) or 'section')
    return ids

def broken_link(target:str, page:Path, files:set[str], pages:dict[str, Path], site:str) -> str|None:
    "Why `target`, linked from `page`, leads nowhere: None when it resolves to a file a commit carries or to a page of the site."
    def anchored(p:Path, frag:str):
        if frag and p.suffix == '.md' and frag not in anchors(p): return f'{target}: {p.name} has no heading #{frag}'
    if target.startswith(site):  # a page of the site
        path, _, frag = target[len(site):].partition('#')
        if not (path := path or 'index.html').endswith('.html'): return f'{target}: site pages end in .html'
        if (p := pages.get(path[:-5])) is None: return f'{target}: the site has no page {path} (no notebook or page of nbs/ makes it)'
        return anchored(p, frag)
    if re.match(r'[a-z][a-z0-9+.-]*:|//', target): return None  # another site: not checked here
    path, _, frag = target.partition('#')
    if not path: return anchored(page, frag)
    dest = (page.parent/path).resolve()
    if not dest.is_relative_to(ROOT): return f'{target}: outside the repository'
    in_site = page.is_relative_to(NBS)
    if in_site and not dest.is_relative_to(NBS): return f'{target}: outside nbs/, so not on the site (link to the repository instead)'
    if in_site and dest.suffix == '.html':
        if (p := pages.get(str(dest.relative_to(NBS))[:-5])) is None: return f'{target}: the site has no such page'
        return anchored(p, frag)
    rel = str(dest.relative_to(ROOT))
    if rel in files or any(f.startswith(rel + '/') for f in files): return anchored(dest, frag)
    return f'{target}: no such file in the repository' + ('' if not dest.exists() else ' (it exists here but is ignored or untracked)')

def broken_links(page:Path, text:str|None=None) -> list[str]:
    "The links and images of `page` (or of `text` as if it were `page`) that lead nowhere."
    files, pages, site = carried_files(), site_pages(), site_url()
    text = page.read_text() if text is None else text
    return [b for t in link_targets(text) if (b := broken_link(t, page, files, pages, site))]

def prose(nb:Path) -> str:
    "The markdown cells of the notebook `nb`, as one text."
    import json
    return '\n\n'.join(''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown')

def test_links_and_images_resolve():
    for page in [ROOT/'README.md', *guide_pages()]:
        assert not broken_links(page), (page.name, broken_links(page))
    for nb in sorted(NBS.glob('*.ipynb')):  # the notebooks' prose is on the site too
        assert not broken_links(nb, prose(nb)), (nb.name, broken_links(nb, prose(nb)))
    readme = link_targets((ROOT/'README.md').read_text())
    assert any(t.startswith(site_url()) for t in readme) and any(t.endswith('.jpg') for t in readme)

def test_a_broken_link_is_found():
    site, page = site_url(), NBS/'deployment.md'
    text = ('[ok](hardening.md) [ok](#sizing) [ok](hardening.md#shutdown-teststest_shutdown.py) [ok](api.html) '
            f'[ok]({site}http_api.html#tasks) [gone](nowhere.md) ![gone](images/nowhere.jpg) [gone]({site}nowhere.html) '
            f'[gone]({site}http_api.html#nowhere) [gone](hardening.md#nowhere) [gone](../bench/README.md) `[code](nowhere.md)`')
    found = broken_links(page, text)
    assert len(found) == 6 and all('nowhere' in b or 'outside nbs/' in b for b in found), found
    assert broken_links(ROOT/'README.md', '![x](docs/images/app-compare.jpg) [x](nbs/hardening.md) [x](bench/)') == [
        'docs/images/app-compare.jpg: no such file in the repository']
