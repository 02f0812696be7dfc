"""Names in scenario files: registered ids, River dotted names, and user ``module:attribute``.

A scenario never evaluates code from a string. A name is looked up in a registry
(``sea``, ``stale``, ...), resolved under the ``river`` package (``linear_model.LogisticRegression``)
or imported as ``module:attribute`` from the user's own code.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from collections.abc import Iterable
from functools import cache

__all__ = ["Registry", "check_params", "load_attribute", "resolve_river", "resolves_to", "river_names",
           "suggest"]


def suggest(name: str, choices: Iterable[str]) -> str:
    """A did-you-mean hint for a misspelt name, or an empty string.

    >>> suggest("stael", ["stale", "truth"])
    " (did you mean 'stale'?)"
    """
    close = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _name(name, kind: str = "name") -> None:
    """A name in a scenario is text: refuse anything else before looking it up."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"expected the name of a {kind} (text), got {name!r}")


def load_attribute(spec: str):
    """Import ``module:attribute`` (the attribute may be dotted).

    >>> load_attribute("math:pi")
    3.141592653589793
    """
    _name(spec)
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{spec!r} is not of the form 'module:attribute'")
    try:
        obj = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"cannot import module {module_name!r}: {exc}") from None
    for part in attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return obj


class Registry:
    """Maps ids to objects; also accepts ``module:attribute`` for user code.

    >>> sources = Registry("source")
    >>> sources.add("answer", 42)
    >>> sources.get("answer")
    42
    >>> sources.get("answr")
    Traceback (most recent call last):
    ...
    ValueError: unknown source 'answr' (did you mean 'answer'?); known: answer (or ...)
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, object] = {}

    def add(self, name: str, obj) -> None:
        self._items[name] = obj

    def register(self, name: str):
        """Decorator form of :meth:`add`."""

        def wrap(obj):
            self.add(name, obj)
            return obj

        return wrap

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self):
        return sorted(self._items.items())

    def get(self, name: str):
        _name(name, self.kind)
        if name in self._items:
            return self._items[name]
        if ":" in name:
            return load_attribute(name)
        raise ValueError(
            f"unknown {self.kind} {name!r}{suggest(name, self._items)}; "
            f"known: {', '.join(self.names())} (or 'module:attribute' for your own)"
        )


@cache
def river_names() -> tuple[str, ...]:
    """Every public class in River's submodules, as ``submodule.Class``."""
    import river

    names = []
    for info in pkgutil.iter_modules(river.__path__):
        if info.name.startswith("_") or info.name in {"api", "conftest", "datasets", "test_estimators"}:
            continue
        try:
            module = importlib.import_module(f"river.{info.name}")
        except Exception:  # noqa: BLE001 - optional extras of River may be missing
            continue
        names += [
            f"{info.name}.{attr}"
            for attr, obj in vars(module).items()
            if inspect.isclass(obj) and not attr.startswith("_")
        ]
    return tuple(sorted(names))


def resolve_river(name: str):
    """The River class for ``submodule.Class``, or user code for ``module:attribute``.

    >>> resolve_river("linear_model.LogisticRegression").__name__
    'LogisticRegression'
    """
    _name(name, "River class")
    if ":" in name:
        return load_attribute(name)
    module_name, _, attribute = name.rpartition(".")
    obj = None
    if module_name:
        try:
            obj = getattr(importlib.import_module(f"river.{module_name}"), attribute, None)
        except ImportError:
            obj = None
    if obj is None or not inspect.isclass(obj):
        raise ValueError(
            f"unknown River class {name!r}{suggest(name, river_names())}; "
            "write it as 'submodule.Class' (e.g. 'linear_model.LogisticRegression') "
            "or 'module:attribute' for your own"
        )
    return obj


def resolves_to(name: str, classes: tuple) -> bool:
    """Whether ``name`` (as :func:`resolve_river` reads it) gives one of ``classes`` or a
    subclass of one, whatever it is called; False for a name that gives no class (whoever
    resolves it says what is wrong with it).

    >>> from river import bandit
    >>> [resolves_to(name, (bandit.ThompsonSampling,)) for name in ("bandit.ThompsonSampling", "bandit.UCB")]
    [True, False]
    """
    try:
        cls = resolve_river(name)
    except Exception:  # noqa: BLE001 - whatever the complaint, the name does not give a class
        return False
    return inspect.isclass(cls) and issubclass(cls, classes)


def check_params(cls, params: dict, supplied=()) -> None:
    """Raise ValueError if ``cls(**params)`` would not bind: unknown or missing params.

    ``supplied`` names the params lowstakes passes itself (e.g. the number of experts): they
    are neither the user's to give nor listed as taken.

    >>> class Rule:
    ...     def __init__(self, region, rate=1.0): ...
    >>> check_params(Rule, {"regoin": {}})
    Traceback (most recent call last):
    ...
    ValueError: unknown param 'regoin' (did you mean 'region'?); Rule takes: region, rate
    >>> check_params(Rule, {})
    Traceback (most recent call last):
    ...
    ValueError: missing param 'region'; Rule takes: region, rate
    """
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return
    accepted = [name for name, p in signature.parameters.items()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name not in supplied]
    takes = f"{cls.__name__} takes: {', '.join(accepted) or 'no params'}"
    if any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values()):
        return
    for name in params:
        if name not in accepted:
            raise ValueError(f"unknown param {name!r}{suggest(name, accepted)}; {takes}")
    for name, p in signature.parameters.items():
        if name in accepted and p.default is p.empty and name not in params:
            raise ValueError(f"missing param {name!r}; {takes}")
    for name, value in params.items():
        default = signature.parameters[name].default
        # A number where the default is a number: YAML's unquoted yes/no/true/false are
        # booleans, and a quoted number is text; neither is silently taken for a number.
        if isinstance(default, bool) and not isinstance(value, bool):
            raise ValueError(f"param {name!r} is true or false (default {default!r}), got {value!r}")
        if isinstance(default, int | float) and not isinstance(default, bool):
            if isinstance(value, bool):
                raise ValueError(f"param {name!r} is a number (default {default!r}), got the boolean "
                                 f"{value!r} (YAML reads unquoted yes/no/on/off/true/false as booleans)")
            if isinstance(value, str):
                raise ValueError(f"param {name!r} is a number (default {default!r}), got the text {value!r} "
                                 "(remove the quotes)")
