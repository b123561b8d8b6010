"""The Pulumi program: read the stack config, build the installation, export what people read."""

from __future__ import annotations

import pulumi

from components.config import CloudConfig, OnPremConfig, StackConfig, load_stack_config
from components.installation import CloudInstallation, OnPremInstallation
from components.version import TOOLKIT_VERSION


def build() -> StackConfig:
    """Run the program; raises ConfigError (before any resource is registered) on bad config."""
    stack = load_stack_config()
    installation = stack.installation
    built: CloudInstallation | OnPremInstallation
    if isinstance(installation, CloudConfig):
        built = CloudInstallation(installation, stack.secrets)
    elif isinstance(installation, OnPremConfig):
        built = OnPremInstallation(installation, stack.secrets)
    else:  # parse_installation returns every installation as its hosting's own type
        raise TypeError(f"installation {installation.id}: {type(installation).__name__} is neither hosting's config")

    pulumi.export("installation", {
        "id": installation.id,
        "customer": installation.customer,
        "hosting": installation.hosting,
    })
    # The fleet's health view reads it (scripts/fleet_health.py): storage used against this.
    pulumi.export("storage", {"included_gb": installation.contract.included_storage_gb})
    # What this installation runs (components/version.py): rollouts read it.
    pulumi.export("toolkit_version", TOOLKIT_VERSION)
    # As the ledger holds them (a one-off keeps the price it was written with: components/fees.py).
    pulumi.export("fees", built.fee_ledger.billed())
    pulumi.export("backup", {
        "times": [f"{t:%H:%M}" for t in installation.backup_times],
        "timezone": installation.backup.timezone,
        "max_age_hours": installation.backup_max_age_hours,
    })
    # The backup status script reads this: `pulumi stack output freshness_targets`.
    pulumi.export("freshness_targets", built.freshness_targets)
    # The weekly prune reads these (scripts/prune.py): what to keep, where, and the role to assume.
    pulumi.export("retention_targets", built.retention_targets)
    pulumi.export("prune_role_arn", built.prune.role.arn)
    if isinstance(built, CloudInstallation):
        pulumi.export("instance_id", built.host.instance.id)
    else:
        pulumi.export("backup_locations", [
            {"region": region, "bucket": bucket.bucket.bucket}
            for region, bucket in zip(built.offsite.regions, built.offsite.buckets)
        ])
        # For the connectivity check and restores from a workstation: `--show-secrets` to read.
        pulumi.export("backup_credentials", pulumi.Output.secret({
            "access_key_id": built.offsite.access_key.id,
            "secret_access_key": built.offsite.access_key.secret,
        }))
    return stack
