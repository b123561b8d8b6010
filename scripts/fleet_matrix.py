#!/usr/bin/env python3
"""The workflows' matrix: the fleet's stacks in batches, at most --jobs of them (GitHub's limit is 256).

    scripts/fleet_matrix.py                          # every Pulumi.<stack>.yaml here but the examples
    scripts/fleet_matrix.py --stacks-json stacks.json  # the stacks a pull request changed (pr_preview.py's)
                                                     # the examples left out: no backend holds them
    scripts/fleet_matrix.py --jobs 60 --summary      # and one line per batch on standard error

Prints the matrix as one line of JSON, [{"batch": "1-of-20", "stacks": "a b c"}, ...], for
`strategy.matrix.include`; [] when there is no stack. Exit 2 with the reason when a stack's name
cannot be batched (components/matrix.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import _repo

from components.matrix import DEFAULT_JOBS, MatrixError, read_stack_list, shard, stacks_of


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--stacks-json", type=Path,
                        help="a JSON list of stack names (default: every stack file in the repository)")
    parser.add_argument("--jobs", type=int, default=DEFAULT_JOBS,
                        help="most matrix entries (default %(default)s, at most 256)")
    parser.add_argument("--summary", action="store_true", help="one line per batch on standard error")
    args = parser.parse_args(argv)
    try:
        if args.stacks_json:
            stacks = [s for s in read_stack_list(args.stacks_json) if not s.startswith("example-")]
        else:
            stacks = stacks_of(sorted(_repo.REPO_ROOT.glob("Pulumi.*.yaml")))
        matrix = shard(stacks, args.jobs)
    except MatrixError as error:
        print(f"fleet_matrix: {error}", file=sys.stderr)
        return 2
    print(json.dumps(matrix, separators=(",", ":")))
    if args.summary:
        for entry in matrix:
            print(f"batch {entry['batch']}: {len(entry['stacks'].split())} stacks", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
