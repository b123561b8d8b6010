"""The two kinds of installation, each a component that owns everything one customer's stack makes.

Built so far: the fee ledger. Compute, storage, backups and freshness alarms (cloud) and the
prepared host with its backups (on-premise) join these components as their issues land; their
type tokens and names are fixed now so that those additions never re-parent (replace) a resource.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.config import StackConfig
from components.fees import FeeLedger


class _Installation(pulumi.ComponentResource):
    type_token = ""

    def __init__(self, stack: StackConfig, opts: Optional[pulumi.ResourceOptions] = None):
        installation = stack.installation
        super().__init__(self.type_token, installation.id, None, opts)
        self.installation = installation
        self.fee_ledger = FeeLedger(
            f"{installation.id}-fees", installation, opts=pulumi.ResourceOptions(parent=self)
        )
        self.register_outputs({"installation_id": installation.id, "hosting": installation.hosting})


class CloudInstallation(_Installation):
    """A Daktela CC installation in Daktela Cloud (AWS)."""

    type_token = "daktela:cloud:CloudInstallation"


class OnPremInstallation(_Installation):
    """A Daktela CC installation on the customer's own server, prepared over SSH."""

    type_token = "daktela:onprem:OnPremInstallation"
