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
