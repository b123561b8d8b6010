"""The two kinds of installation, each a component that owns everything one customer's stack makes.

Built so far: the fee ledger (both), and the prepared host with its drives (on-premise). Compute,
storage, backups and freshness alarms (cloud) and the on-premise backups join these components as
their issues land; type tokens and names stay fixed so that additions never re-parent a resource.
"""

from __future__ import annotations

from typing import Optional

import pulumi

from components.config import StackConfig
from components.fees import FeeLedger
from components.host.layout import layout_from_config
from components.prepared_host import PreparedHost


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

    def __init__(self, stack: StackConfig, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__(stack, opts)
        settings = self.installation.on_premise
        assert settings is not None  # the config model requires it for on-premise hosting
        host = settings.host
        self.prepared_host = PreparedHost(
            f"{self.installation.id}-host",
            address=host.address,
            port=host.port,
            user=host.user,
            ssh_private_key=stack.secrets["hostSshPrivateKey"],
            host_key_fingerprint=host.host_key_fingerprint,
            known_hosts_file=host.known_hosts_file,
            layout=layout_from_config(settings).to_dict(),
            opts=pulumi.ResourceOptions(parent=self),
        )
