#!/usr/bin/env python3
"""The weekly prune of an installation's restic repositories, with its own prune role.

    RESTIC_PASSWORD_FILE=/run/secrets/acme scripts/prune.py --outputs /tmp/acme-outputs.json
    scripts/prune.py --outputs /tmp/acme-outputs.json --status     # each repository's size and trend

--outputs takes `pulumi stack output --json` (no secrets needed: `retention_targets` and
`prune_role_arn`). The runner's own AWS credentials must be allowed to assume the prune role
(backup.retention.runner_arn); the repository password comes from RESTIC_PASSWORD_FILE or
RESTIC_PASSWORD, as restic reads it (`pulumi config get daktela:backupRepositoryPassword`). What is kept:
components/retention.py. Exit codes: 0 every repository pruned, 1 one failed (the others are still
pruned), 2 bad arguments or outputs, 3 the role could not be assumed. --status prunes nothing: it
prints what each repository's last prune recorded (size, the last sizes, snapshots kept), exit 1 when
a repository was never pruned or its record cannot be read.
"""

from __future__ import annotations

import os
import sys

import _repo  # noqa: F401  (repo root on sys.path)

from components.aws.retention import RetentionTargets
from components.retention import PRUNE_SILENCE_SECONDS, prune_all, recorded, restic_env, s3_client
from components.stack_outputs import OutputsError, read_outputs, require


def main(argv: list[str] | None = None) -> int:
    parser = _repo.parser(__doc__)
    parser.add_argument("--outputs", required=True, help="the stack's outputs (pulumi stack output --json)")
    parser.add_argument("--endpoint-url", default="", help="an S3-compatible endpoint instead of AWS's")
    parser.add_argument("--silence-minutes", type=int, default=PRUNE_SILENCE_SECONDS // 60,
                        help="give a repository up when restic reads and writes nothing for this long "
                             "(default %(default)s)")
    parser.add_argument("--status", action="store_true", help="print the last prune's record of each repository")
    parser.add_argument("--no-assume", action="store_true",
                        help="the environment's credentials are the prune principal's already")
    args = parser.parse_args(argv)
    if not args.status and not (os.environ.get("RESTIC_PASSWORD_FILE") or os.environ.get("RESTIC_PASSWORD")):
        print("the repository password is not given: set RESTIC_PASSWORD_FILE (pulumi config get daktela:"
              "backupRepositoryPassword into a file only you can read)", file=sys.stderr)
        return 2
    try:
        outputs = read_outputs(args.outputs)
        targets = RetentionTargets.from_json(require(outputs, "retention_targets"))
        role_arn = require(outputs, "prune_role_arn")
    except (OutputsError, KeyError, TypeError, ValueError) as error:
        print(f"--outputs {args.outputs}: {error}", file=sys.stderr)
        return 2
    import boto3
    import botocore.exceptions

    try:
        if args.no_assume:
            session = boto3.Session()
            frozen = session.get_credentials().get_frozen_credentials()
            credentials = {"AccessKeyId": frozen.access_key, "SecretAccessKey": frozen.secret_key,
                           "SessionToken": frozen.token or ""}
        else:
            credentials = boto3.client("sts").assume_role(
                RoleArn=role_arn, RoleSessionName=f"prune-{targets.installation_id}",
                DurationSeconds=12 * 3600)["Credentials"]
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, AttributeError) as error:
        print(f"cannot assume {role_arn}: {error}", file=sys.stderr)
        return 3
    clients: dict = {}

    def s3_for(region: str):
        if region not in clients:
            clients[region] = s3_client(credentials, region, args.endpoint_url)
        return clients[region]

    if args.status:
        lines, failed = recorded(targets, s3_for)
        print("\n".join(lines))
    else:
        done, failed = prune_all(targets, restic_env(credentials), s3_for, args.endpoint_url,
                                 silence_seconds=args.silence_minutes * 60)
        for pruned in done:
            print(pruned.line())
    for line in failed:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
