"""Copy one stack's app images into another stack's file: the promotion of staging's images to prod.

    .venv/bin/python scripts/promote_images.py                          # staging -> prod, in this checkout
    .venv/bin/python scripts/promote_images.py --from staging --to prod --dir <checkout>

`ams:delivery.images` of Pulumi.<from>.yaml replaces `ams:delivery.images` of Pulumi.<to>.yaml. Only the lines of
that mapping change: every other line of the target file (comments, order, flow style) stays as it is, so the
promotion pull request's diff is the images and nothing else. The result is read back and must equal the target's
config with the images replaced, or the file is left untouched and the script exits 1. Prints one line per image:
`api: <before> -> <after>` (or `unchanged`). promote.yml runs it on the commit staging last deployed green.
Stack files are read as the Pulumi CLI reads them (tools/stack_yaml.py: gopkg.in/yaml.v3's rules).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from tools import stack_yaml  # noqa: E402

KEY = "ams:delivery"


class PromotionError(Exception):
    """The images cannot be copied (a stack file without them, or one this script cannot edit in place)."""


def stack_file(directory: Path, stack: str) -> Path:
    return directory / f"Pulumi.{stack}.yaml"


def images_of(config: dict, stack: str) -> dict[str, str]:
    images = (config.get(KEY) or {}).get("images")
    if not isinstance(images, dict) or not images or not all(isinstance(v, str) and v for v in images.values()):
        raise PromotionError(f"Pulumi.{stack}.yaml: {KEY}.images must map each app to an image reference")
    return images


def scalar(value: str) -> str:
    """A YAML scalar for an image reference: plain when YAML reads it back as the same string, else double-quoted."""
    plain = value if value.strip() == value and "#" not in value and ": " not in value else None
    if plain is not None:
        try:
            if stack_yaml.load(f"v: {plain}\n") == {"v": value}:
                return plain
        except yaml.YAMLError:
            pass
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _block_end(lines: list[str], start: int, parent_indent: int) -> int:
    """The index after the last line of the block below lines[start - 1] (lines indented deeper than the parent)."""
    end = start
    for index in range(start, len(lines)):
        stripped = lines[index].strip()
        if stripped and _indent(lines[index]) <= parent_indent:
            break
        if stripped:
            end = index + 1
    return end


def replace_images(text: str, images: dict[str, str]) -> str:
    """The stack file's text with the lines of `ams:delivery.images` replaced by `images` (block style)."""
    lines = text.splitlines(keepends=True)
    delivery = [i for i, line in enumerate(lines) if re.fullmatch(rf"\s*{re.escape(KEY)}:\s*(#.*)?\n?", line)]
    if len(delivery) != 1:
        raise PromotionError(f"the target stack file needs one block-style `{KEY}:` mapping to promote into")
    start = delivery[0]
    delivery_indent = _indent(lines[start])
    end = _block_end(lines, start + 1, delivery_indent)
    children = [i for i in range(start + 1, end) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    child_indent = _indent(lines[children[0]]) if children else delivery_indent + 2
    found = [i for i in children if _indent(lines[i]) == child_indent and re.match(r"\s*images:", lines[i])]
    entries = [f"{' ' * (child_indent + 2)}{app}: {scalar(ref)}\n" for app, ref in images.items()]
    if len(found) > 1:
        raise PromotionError(f"{KEY}.images is in the target stack file twice")
    if found:
        (images_line,) = found
        if not re.fullmatch(r"\s*images:\s*(#.*)?\n?", lines[images_line]):
            raise PromotionError(f"{KEY}.images of the target stack file is not a block mapping: edit it by hand once")
        images_end = _block_end(lines, images_line + 1, child_indent)
        return "".join(lines[: images_line + 1] + entries + lines[images_end:])
    header = f"{' ' * child_indent}images:\n"
    return "".join(lines[: start + 1] + [header, *entries] + lines[start + 1 :])


def promote(directory: Path, source: str, target: str) -> list[str]:
    """Copy the images; returns one line per app of the source and target."""
    source_config = stack_yaml.load(stack_file(directory, source).read_text())["config"]
    images = images_of(source_config, source)
    path = stack_file(directory, target)
    text = path.read_text()
    before = stack_yaml.load(text)
    target_config = before["config"]
    old = (target_config.get(KEY) or {}).get("images") or {}
    new_text = replace_images(text, images)
    expected = {**before, "config": {**target_config, KEY: {**(target_config.get(KEY) or {}), "images": images}}}
    if stack_yaml.load(new_text) != expected:
        raise PromotionError(f"{path.name}: the edited file does not read back as the promoted config; nothing written")
    if new_text != text:
        path.write_text(new_text)
    changes = []
    for app in sorted({*old, *images}):
        was, now = old.get(app), images.get(app)
        changes.append(f"{app}: unchanged ({now})" if was == now else f"{app}: {was or '(none)'} -> {now or '(removed)'}")
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", default="staging")
    parser.add_argument("--to", dest="target", default="prod")
    parser.add_argument("--dir", type=Path, default=PROJECT_DIR)
    args = parser.parse_args(argv)
    try:
        changes = promote(args.dir, args.source, args.target)
    except (PromotionError, yaml.YAMLError) as error:  # a file the CLI would refuse too (a key twice: DuplicateKeyError)
        print(f"error: {error}", file=sys.stderr)
        return 1
    for line in changes:
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
