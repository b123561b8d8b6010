"""PreparedHost: the dynamic provider called directly against the test host, and the resource in the plan."""

from __future__ import annotations

import json


from components.host.layout import DesiredDrive, DesiredLayout
from components.prepared_host import PreparedHostProvider
from tests.conftest import example_installation, plan_of


def props_for(host) -> dict:
    layout = DesiredLayout(tuple(
        DesiredDrive(role, d.identity, d.size_bytes, "ext4" if role == "operational" else "xfs",
                     host.mount_point(role), False)
        for role, d in host.drives.items()
    ))
    access = host.access()
    return {
        "address": access.address, "port": access.port, "user": access.user,
        "ssh_private_key": access.private_key, "host_key_fingerprint": access.host_key_fingerprint,
        "known_hosts_file": None, "layout": layout.to_dict(), "host": None,
    }


def test_create_read_diff_update_delete_against_the_test_host(test_host):
    provider = PreparedHostProvider()
    props = props_for(test_host)

    created = provider.create(props)
    assert created.id == f"127.0.0.1:{test_host.port}"
    host = created.outs["host"]
    assert host["pending_steps"] == []
    assert host["drives"]["operational"]["mounted_from"] == f"{test_host.drives['operational'].device}p1"

    # Refresh reads the host: drift (a directory removed by hand) shows as a pending step; one the
    # application changed (its owner or mode) is the application's and no drift.
    test_host.run(f"chmod 750 {test_host.mount_point('operational')}/database && "
                  f"rmdir {test_host.mount_point('operational')}/recordings")
    refreshed = provider.read(created.id, created.outs)
    assert refreshed.outs["host"]["pending_steps"] == [
        f"operational: create missing directories {test_host.mount_point('operational')}/recordings (root:root 0750)"
    ]

    # diff never reaches the host: it compares inputs only.
    unchanged = provider.diff(created.id, created.outs, {**props})
    assert not unchanged.changes
    moved = provider.diff(created.id, created.outs, {**props, "port": 2222})
    assert moved.changes and moved.replaces == ["port"]
    resized = json.loads(json.dumps(props))
    resized["layout"]["drives"][0]["mount_point"] = test_host.mount_point("operational") + "-new"
    assert provider.diff(created.id, created.outs, resized).changes

    updated = provider.update(created.id, created.outs, props)  # repairs the drift
    assert updated.outs["host"]["pending_steps"] == []
    stat = test_host.run(f"stat -c %a {test_host.mount_point('operational')}/database "
                         f"{test_host.mount_point('operational')}/recordings").stdout.split()
    assert stat == ["750", "750"]  # the database directory as the application left it; recordings back

    fstab = test_host.fstab()
    provider.delete(created.id, updated.outs)
    assert not (test_host.root / "etc" / "daktela-toolkit" / "host.json").exists()
    assert test_host.fstab() == fstab  # drives, fstab lines and mounts stay
    assert test_host.run(f"findmnt -n {test_host.mount_point('archive')}").returncode == 0


def test_diff_needs_no_host():
    provider = PreparedHostProvider()
    olds = {"address": "203.0.113.7", "port": 22, "user": "root", "ssh_private_key": "k",
            "layout": {"drives": []}, "host": {"os": "x"}}
    assert not provider.diff("id", olds, {**olds, "host": None}).changes
    new_key = provider.diff("id", olds, {**olds, "ssh_private_key": "k2", "host": None})
    assert new_key.changes and new_key.replaces == []


def test_onprem_plan_has_the_prepared_host_with_its_key_secret():
    plan = plan_of(example_installation("on-premise"))
    [host] = plan.of_type("pulumi-python:dynamic/onprem:PreparedHost")
    assert host.inputs["ssh_private_key"] == "[secret]"
    assert "s3cr3t-hostSshPrivateKey" not in json.dumps(plan.to_json())
    assert host.options["additional_secret_outputs"] == ["backup_secrets", "ssh_private_key"]
    assert host.inputs["backup_secrets"] == "[secret]"
    assert host.inputs["address"] == "cc.acme.example"
    drives = {d["role"]: d for d in host.inputs["layout"]["drives"]}
    assert drives["operational"]["mount_point"] == "/srv/daktela"
    assert drives["archive"]["filesystem"] == "xfs"
    assert host.parent.endswith("daktela:onprem:OnPremInstallation::acme-onprem")


def test_cloud_plan_has_no_prepared_host():
    plan = plan_of(example_installation("cloud"))
    assert plan.of_type("pulumi-python:dynamic/onprem:PreparedHost") == []
