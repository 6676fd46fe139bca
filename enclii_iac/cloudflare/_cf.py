"""``pulumi_cloudflare`` as ``cf``, loaded lazily: only the modules enclii_iac uses, without deprecation warnings.

pulumi-cloudflare 6.x's package ``__init__`` imports all of its ~780 modules (every resource, every deprecated
v5 alias, each printing a DeprecationWarning): about 5 s on a small machine, half of an offline synth. ``cf``
loads a name from its own module on first use instead (``cf.DnsRecord`` imports ``pulumi_cloudflare.dns_record``,
``cf.ZeroTrustTunnelCloudflaredConfigConfigArgs`` the shared input types). The package itself stays importable
as usual: the first attribute it does not have yet (``import pulumi_cloudflare; pulumi_cloudflare.Zone``) runs
its real ``__init__``, which then defines everything, so programs that import it directly work unchanged.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import re
import sys
import threading
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any

_PACKAGE = "pulumi_cloudflare"
_LOCK = threading.RLock()


def _quiet_import(name: str) -> ModuleType:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_cloudflare(\..*)?$")
        return importlib.import_module(name)


def _package() -> ModuleType:
    """The package module, created without running its ``__init__`` (which runs on first unknown attribute)."""
    with _LOCK:
        existing = sys.modules.get(_PACKAGE)
        if existing is not None:
            return existing
        spec = importlib.util.find_spec(_PACKAGE)
        if spec is None or spec.origin is None or spec.loader is None:
            raise ImportError(f"{_PACKAGE} is not installed")
        pkg = importlib.util.module_from_spec(spec)
        origin = spec.origin
        with open(origin, encoding="utf-8") as fh:
            tree = ast.parse(fh.read(), origin)
        # the registrations for resource (de)serialisation run now; everything else on first unknown attribute
        register: list[ast.stmt] = [
            n for n in tree.body if isinstance(n, ast.Expr) and ast.unparse(n).startswith("_utilities.reg")
        ]
        rest = [n for n in tree.body if n not in register]
        state = {"full": False}

        def full_init() -> None:
            with _LOCK:
                if state["full"]:
                    return
                state["full"] = True
                with warnings.catch_warnings():
                    warnings.filterwarnings("ignore", category=DeprecationWarning,
                                            module=r"pulumi_cloudflare(\..*)?$")
                    code = compile(ast.Module(body=rest, type_ignores=[]), origin, "exec")
                    exec(code, pkg.__dict__)  # noqa: S102 - the package's own __init__

        def module_getattr(name: str) -> Any:
            if name.startswith("__") or importlib.util.find_spec(f"{_PACKAGE}.{name}") is not None:
                raise AttributeError(name)  # a submodule: the import system loads it (``from . import outputs``)
            full_init()
            try:
                return pkg.__dict__[name]
            except KeyError:
                raise AttributeError(f"module {_PACKAGE!r} has no attribute {name!r}") from None

        pkg.__dict__["__getattr__"] = module_getattr
        sys.modules[_PACKAGE] = pkg
        _quiet_import(f"{_PACKAGE}._utilities")
        pkg.__dict__["_utilities"] = sys.modules[f"{_PACKAGE}._utilities"]
        exec(compile(ast.Module(body=register, type_ignores=[]), origin, "exec"), pkg.__dict__)  # noqa: S102
        return pkg


def _module_for(name: str) -> str:
    """The submodule that defines ``name`` in pulumi-cloudflare's layout."""
    if name.endswith(("Args", "ArgsDict")) and name[:1].isupper():
        return "_inputs"
    if name == "Provider":
        return "provider"
    if name.startswith("get_"):
        return name.removesuffix("_output")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


class _LazyCloudflare:
    """Attribute access to ``pulumi_cloudflare`` that imports only the module a name lives in."""

    def __getattr__(self, name: str) -> Any:
        pkg = _package()
        if name in pkg.__dict__:
            return pkg.__dict__[name]
        try:
            module = _quiet_import(f"{_PACKAGE}.{_module_for(name)}")
            value = getattr(module, name)
        except (ImportError, AttributeError):
            value = getattr(pkg, name)  # anything else: the package's full __init__
        setattr(self, name, value)
        return value


if TYPE_CHECKING:
    import pulumi_cloudflare as cf
else:
    cf = _LazyCloudflare()

__all__ = ["cf"]
