# Stand-ins for packages diffusers imports but a bare UNet forward never uses (not installable offline here).
import sys, types, importlib.abc, importlib.machinery, importlib.metadata as md
STUB = ("huggingface_hub", "safetensors", "PIL", "filelock", "importlib_metadata", "tqdm", "requests_toolbelt")
class _Meta(type):
    def __getattr__(cls, name):
        if name.startswith("__"): raise AttributeError(name)
        return _Meta(name, (Exception,), {})
class _Any(types.ModuleType):
    __path__ = []
    def __getattr__(self, name):
        if name.startswith("__"): raise AttributeError(name)
        if name.isupper():
            setattr(self, name, "/tmp/hf-stub"); return "/tmp/hf-stub"
        if name[:1].isupper() or name.endswith("Error"):
            cls = _Meta(name, (Exception,), {})
            setattr(self, name, cls); return cls
        f = lambda *a, **k: None
        setattr(self, name, f); return f
class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in STUB: return importlib.machinery.ModuleSpec(name, self, is_package=True)
    def create_module(self, spec): return _Any(spec.name)
    def exec_module(self, m): m.__version__ = "99.0.0"
sys.meta_path.insert(0, _Finder())
_version = md.version
def version(name):
    if name.split(".")[0].replace("-", "_") in STUB or name in ("Pillow", "huggingface-hub"): return "99.0.0"
    return _version(name)
md.version = version
