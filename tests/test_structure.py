"""The code's structure: tiers stand on their own and `__main__.py` alone wires them together."""

from __future__ import annotations

import ast

from tests.conftest import PROJECT_DIR

TIERS = ("app", "data", "edge", "monitoring", "platform")
COMPONENTS = PROJECT_DIR / "components"


def imported_modules(path) -> set[str]:
    """Absolute module names a file imports (relative imports resolved against its package)."""
    package = ["components", path.parent.name] if path.parent != COMPONENTS else ["components"]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
    return found


def in_tier(module: str, tier: str) -> bool:
    return module == f"components.{tier}" or module.startswith(f"components.{tier}.")


def test_no_tier_imports_another_tier():
    for tier in TIERS:
        for path in (COMPONENTS / tier).glob("*.py"):
            others = {
                m for m in imported_modules(path) for other in TIERS if other != tier and m.startswith(f"components.{other}")
            }
            assert others == set(), f"{path.relative_to(PROJECT_DIR)} imports {sorted(others)}"


def test_no_component_takes_the_whole_stack_settings():
    for tier in TIERS:
        for path in (COMPONENTS / tier).glob("*.py"):
            assert "StackSettings" not in path.read_text(), path.relative_to(PROJECT_DIR)


def test_shared_modules_import_no_tier():
    """Shared modules serve every tier. The one exception is settings.py, which composes each tier's settings
    models (components/<tier>/settings.py) into StackSettings, as __main__.py composes the tiers."""
    for path in COMPONENTS.glob("*.py"):
        tiers = {m for m in imported_modules(path) for tier in TIERS if in_tier(m, tier)}
        if path.name == "settings.py":
            tiers = {m for m in tiers if ".settings" not in m}
        assert tiers == set(), f"{path.name} imports {sorted(tiers)}"


def test_each_tier_keeps_its_settings_beside_its_components():
    for tier in TIERS:
        if tier != "platform" or (COMPONENTS / tier / "settings.py").exists():
            assert (COMPONENTS / tier / "settings.py").exists(), tier
    assert not list(COMPONENTS.glob("*_settings.py")), "settings modules live in their tier's folder"
