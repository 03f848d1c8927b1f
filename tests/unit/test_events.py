"""Observer hooks (collab/events.py): the base observer does nothing, and a fan-out passes every hook on."""

from __future__ import annotations

import inspect
from typing import Any

from collab.events import Fanout, Observer

HOOKS = [name for name, _ in inspect.getmembers(Observer, inspect.isfunction) if not name.startswith("_")]
# A value of each annotation the hooks use (annotations are strings: the module postpones them).
SAMPLE = {"str": "x", "int": 1, "float": 0.5, "bool": True, "int | None": 2, "str | None": None, "dict[str, Any]": {}}


class Recorder(Observer):
    """Records every hook called on it, whatever its name."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattribute__(self, name: str) -> Any:
        if name in HOOKS:
            calls = object.__getattribute__(self, "calls")
            return lambda *args: calls.append((name, args))
        return object.__getattribute__(self, name)


def sample_args(hook: str) -> tuple[Any, ...]:
    params = list(inspect.signature(getattr(Observer, hook)).parameters.values())[1:]
    return tuple(SAMPLE[param.annotation] for param in params)


def test_the_base_observer_accepts_every_hook_and_does_nothing():
    observer = Observer()
    for hook in HOOKS:
        assert getattr(observer, hook)(*sample_args(hook)) is None


def test_a_fanout_passes_every_hook_to_each_observer_in_order():
    first, second = Recorder(), Recorder()
    fanout = Fanout(first, second)
    for hook in HOOKS:
        getattr(fanout, hook)(*sample_args(hook))
    expected = [(hook, sample_args(hook)) for hook in HOOKS]
    assert len(HOOKS) >= 12 and first.calls == expected and second.calls == expected
