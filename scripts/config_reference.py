#!/usr/bin/env python3
"""Print the config reference (markdown) generated from the config model, or refresh docs/reference.md.

    scripts/config_reference.py            # print it
    scripts/config_reference.py --write    # replace the block between docs/reference.md's markers
"""

from __future__ import annotations

import sys

import _repo

from components.config import config_reference

START, END = "<!-- config-reference:start -->", "<!-- config-reference:end -->"
REFERENCE = _repo.REPO_ROOT / "docs" / "reference.md"


def readme_with_reference(text: str) -> str:
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{config_reference()}{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--write", action="store_true", help="rewrite the reference block of docs/reference.md")
    args = parser.parse_args(argv)
    if args.write:
        REFERENCE.write_text(readme_with_reference(REFERENCE.read_text()))
    else:
        sys.stdout.write(config_reference())
    return 0


if __name__ == "__main__":
    sys.exit(main())
