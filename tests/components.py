"""Helpers for building one component alone under the mocks, with hand-made arguments."""

from __future__ import annotations

from functools import cache

from components import settings as stack_settings
from tests.conftest import stack_config
from tools import runner


@cache
def settings_of(stack: str) -> stack_settings.StackSettings:
    """A committed stack's validated settings, the source of the sections tests hand to one component."""
    found = []
    runner.run_components(lambda: found.append(stack_settings.load()), stack, stack_config(stack))
    return found[0]


def build(construct) -> tuple[runner.Render, object]:
    """Run `construct()` (which creates one component) under the mocks; the render and what it returned."""
    made = []
    render = runner.run_components(lambda: made.append(construct()))
    return render, made[0]


def types_under(render: runner.Render, component_type: str) -> set[str]:
    """The resource types registered below the first component of that type."""
    root = next(r.urn for r in render.resources if r.type == component_type)
    children, frontier = set(), {root}
    while frontier:
        found = [r for r in render.resources if r.parent in frontier]
        frontier = {r.urn for r in found}
        children |= {r.type for r in found}
    return children


def changed(section, **changes):
    """A settings section with some fields changed (frozen models are copied, not edited)."""
    if hasattr(section, "model_copy"):
        return section.model_copy(update=changes)
    import dataclasses

    return dataclasses.replace(section, **changes)
