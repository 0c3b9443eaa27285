"""Render every stack and variant at a git revision and in the working tree, and diff them.

    .venv/bin/python scripts/compare_renders.py BASE_REV

For restructurings that must not change what the program deploys: prints `identical` per render, or the
files that differ (then `diff -r` the printed directories), and exits 1 on any difference.
"""

from __future__ import annotations

import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
RENDER_ALL = """
import sys
from pathlib import Path
sys.path.insert(0, ".")
from tests.conftest import STACKS, VARIANTS, stack_config, with_overrides
from tools import render, runner
out = Path(sys.argv[1])
for name in STACKS:
    render.write(runner.run(name, stack_config(name)), out / name)
for name, (stack, overrides) in VARIANTS.items():
    render.write(runner.run(stack, with_overrides(stack_config(stack), overrides)), out / name)
"""


def render_all(tree: Path, out: Path) -> None:
    subprocess.run([sys.executable, "-c", RENDER_ALL, str(out)], cwd=tree, check=True)


def main(base: str) -> int:
    work = Path(tempfile.mkdtemp(prefix="compare-renders-"))
    base_tree = work / "base"
    subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base_tree), base], cwd=PROJECT, check=True)
    try:
        # The base tree's tests read shared data beside the project, as the working tree's do.
        (work / "shared").symlink_to(PROJECT.parent / "shared")
        render_all(base_tree, work / "before")
        render_all(PROJECT, work / "after")
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(base_tree)], cwd=PROJECT, check=True)
    different = 0
    for before in sorted((work / "before").iterdir()):
        after = work / "after" / before.name
        comparison = filecmp.dircmp(before, after)
        changed = comparison.diff_files + comparison.left_only + comparison.right_only
        print(f"{before.name:<24} {'identical' if not changed else 'differs: ' + ', '.join(changed)}")
        different += bool(changed)
    print(f"renders in {work}")
    return 1 if different else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "HEAD"))
