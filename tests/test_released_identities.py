"""Every resource a released stack holds is continued by the program: under its own URN, or through an alias the
engine follows (tools/urns.py `match`, pulumi/pulumi step_generator.go `generateAliases`, `inheritedChildAlias`).
A resource the program stops continuing is deleted, and a data-bearing one with its data, so moving resources
between components (the data tier's split into Postgres, Redis, ObjectStorage...) must alias each one.

tests/data/released-urns/<stack>.txt: the URNs of every resource of the stack (components too: a child inherits its
parent's alias only when the parent was matched) as last released, in the
engine's form (tools/urns.py `make_urn`); removing a resource on purpose means removing its line here too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import STACKS, render_stack
from tools import render as render_cli
from tools import urns

RELEASED = Path(__file__).parent / "data" / "released-urns"


def released(stack: str) -> list[str]:
    return (RELEASED / f"{stack}.txt").read_text().split()


@pytest.mark.parametrize("stack", STACKS)
def test_every_released_resource_is_continued(stack):
    recorded = released(stack)
    assert len(recorded) > 50, "the record holds the stack's resources"
    current = render_cli.resource_records(render_stack(stack))
    continued = set(urns.match([{"urn": urn} for urn in recorded], current).values())
    assert sorted(set(recorded) - continued) == [], "released resources the program no longer continues"


def test_the_record_uses_the_engines_urns():
    """The root stack's type is never part of a URN (pulumi/pulumi deployment.go `generateURN`)."""
    for stack in STACKS:
        assert not [urn for urn in released(stack) if "pulumi:pulumi:Stack$" in urn]
