"""PreparedHost: the on-premise host's drives as a Pulumi resource (a dynamic provider over components/host).

- `diff` compares the desired inputs with the recorded ones and never reaches the host, so a
  preview (and a pull-request preview far from customer networks) changes and needs nothing.
- `create` / `update` plan, apply and verify on the host (components/host/prepare.py).
- `read` (pulumi refresh) re-reads the host's facts: drift shows as changed `host` outputs.
- `delete` never touches drives, filesystems, data, fstab lines or mounts: it removes only the
  state file the toolkit wrote, and says what it left in place.
The SSH private key is a secret input and stays a secret output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

if TYPE_CHECKING:
    from components.host.facts import HostFacts
    from components.host.layout import DesiredLayout

# Inputs whose change means another host: replace rather than update.
HOST_IDENTITY_INPUTS = ("address", "port")
LEFT_IN_PLACE = ("the drives, their partitions, filesystems and data (the last database dump among them), "
                 "the /etc/fstab lines and the mounts were left in place; remove them by hand if the host "
                 "is decommissioned. The backups stay in the cloud locations")


def from_wire(value: Any) -> Any:
    """Properties as the engine delivers them: the provider protocol carries every number as a
    double, so 22 arrives as 22.0 (ids, units and digests would read "22.0"). Whole numbers back
    to int; nothing in these inputs is a fraction."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: from_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    return value


def _access(props: dict[str, Any]):
    from components.host.ssh import HostAccess

    return HostAccess(
        address=props["address"], port=int(props["port"]), user=props["user"],
        private_key=props["ssh_private_key"], host_key_fingerprint=props.get("host_key_fingerprint"),
        known_hosts_file=props.get("known_hosts_file"),
    )


def _layout(props: dict[str, Any]):
    """The drives, plus the backup and archival jobs with their secrets when the stack has them."""
    from components.host.backup_job import TIMERS, BackupJob, env_file, job_files
    from components.host.layout import DesiredLayout

    if not props.get("backup_job"):
        return DesiredLayout.from_dict(props["layout"])
    secrets = props["backup_secrets"]
    files = job_files(BackupJob.from_dict(props["backup_job"])) + [env_file(
        secrets["access_key_id"], secrets["secret_access_key"], secrets["restic_password"],
        secrets["database_password"],
    )]
    return DesiredLayout.from_dict(props["layout"], tuple(files), TIMERS)


def host_summary(facts: HostFacts, layout: DesiredLayout) -> dict[str, Any]:
    """What the resource records about the host: enough to see drift on refresh, nothing secret."""
    from components.host.planner import PlanRefused, plan, resolve_drive

    drives = {}
    for drive in layout.drives:
        disk, _ = resolve_drive(facts, drive.identity)
        mounted = [m.source for m in facts.mounts_at(drive.mount_point)]
        drives[drive.role] = {
            "device": disk.path if disk else None,
            "mounted_from": mounted[0] if mounted else None,
            "filesystem_uuid": drive.filesystem_uuid,
            "mount_point": drive.mount_point,
        }
    try:
        pending = [str(step) for step in plan(facts, layout)]
    except PlanRefused as refused:
        pending = [f"refused: {reason}" for reason in refused.reasons]
    return {"os": facts.os_name, "drives": drives, "pending_steps": pending}


class PreparedHostProvider(ResourceProvider):
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        olds, news = from_wire(olds), from_wire(news)
        keys = sorted(set(olds) | set(news))
        changed = [k for k in keys if not k.startswith("__") and k != "host" and olds.get(k) != news.get(k)]
        replaces = [k for k in changed if k in HOST_IDENTITY_INPUTS]
        # A new key or fingerprint alone changes nothing on the host; it is recorded all the same.
        return DiffResult(changes=bool(changed), replaces=replaces, stables=[],
                          delete_before_replace=False)

    def _prepare(self, props: dict[str, Any]) -> dict[str, Any]:
        from components.host.errors import Refused
        from components.host.prepare import prepare
        from components.host.ssh import Connection

        if props.get("host_unchecked"):  # nothing is touched on a host nobody has checked
            raise Refused(f"{props['address']}: the host is not checked yet (on_premise.host_unchecked): run "
                          "scripts/check_host.py on the stack file, commit what it writes, then pulumi up "
                          "(docs/operate.md, \"Onboarding before the host is reachable\"); nothing was changed")

        layout = _layout(props)
        with Connection(_access(props)) as connection:
            result = prepare(connection, layout, progress=lambda line: pulumi.log.info(line))
        return {**props, "host": host_summary(result.facts, layout)}

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = from_wire(props)
        return CreateResult(id_=f"{props['address']}:{props['port']}", outs=self._prepare(props))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=self._prepare(from_wire(news)))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        from components.host.facts import gather
        from components.host.ssh import Connection

        props = from_wire(props)
        layout = _layout(props)
        with Connection(_access(props)) as connection:
            facts = gather(connection, layout.paths(), layout.file_paths())
        return ReadResult(id_=id_, outs={**props, "host": host_summary(facts, layout)})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        from components.host.facts import STATE_FILE
        from components.host.ssh import Connection, HostError
        from components.templates import render

        props = from_wire(props)
        layout = _layout(props)
        script = render("host/remove-jobs.sh.j2", timers=layout.timers,
                        installed=[*layout.file_paths(), STATE_FILE])
        try:
            with Connection(_access(props)) as connection:
                connection.run(script)
        except HostError as error:
            raise HostError(
                f"{error}. Nothing on the host was changed. If the host is gone for good, drop this "
                "resource from the stack with `pulumi state delete <urn>`"
            ) from error
        pulumi.log.info(f"{props['address']}: removed the toolkit's jobs and state file; {LEFT_IN_PLACE}")


class PreparedHost(Resource, module="onprem", name="PreparedHost"):
    """The customer's host with its operational and archive drives prepared."""

    host: pulumi.Output[dict]

    def __init__(
        self,
        name: str,
        *,
        address: str,
        port: int,
        user: str,
        ssh_private_key: pulumi.Input[str],
        layout: dict[str, Any],
        host_key_fingerprint: Optional[str] = None,
        known_hosts_file: Optional[str] = None,
        backup_job: Optional[pulumi.Input[dict]] = None,
        backup_secrets: Optional[pulumi.Input[dict]] = None,
        files_digest: Optional[pulumi.Input[str]] = None,
        host_unchecked: bool = False,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        props: dict[str, Any] = {
            "address": address,
            "port": port,
            "user": user,
            "ssh_private_key": pulumi.Output.secret(ssh_private_key),
            "host_key_fingerprint": host_key_fingerprint,
            "known_hosts_file": known_hosts_file,
            "layout": layout,
            "backup_job": backup_job,
            "backup_secrets": pulumi.Output.secret(backup_secrets) if backup_secrets is not None else None,
            # A digest of the rendered job files: a template change shows in the diff.
            "files_digest": files_digest,
            "host": None,
        }
        if host_unchecked:  # only then: a checked stack's inputs stay as they were
            props["host_unchecked"] = True
        opts = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["ssh_private_key", "backup_secrets"])
        )
        super().__init__(PreparedHostProvider(), name, props, opts)
