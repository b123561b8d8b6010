"""The steps' own safety nets, run directly on the test host: a stale plan can never format or
partition a drive that holds something."""

from __future__ import annotations

from components.host.ssh import CommandError, Connection
from components.host.steps import CreatePartition, MakeFilesystem

import pytest


def partition(host, role: str) -> str:
    device = host.drives[role].device
    made = host.run(f"printf 'label: gpt\\nstart=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\\n' | sfdisk -q {device} "
                    f"&& partx -a {device}")
    assert made.returncode == 0, made.stderr
    return f"{device}p1"


def test_make_filesystem_refuses_a_partition_that_holds_one(test_host):
    node = partition(test_host, "operational")
    test_host.run(f"mkfs.ext4 -q -L customer {node}")
    before = test_host.run(f"blkid -p -o value -s UUID {node}").stdout
    step = MakeFilesystem("operational", node, "ext4", "daktela-op", "6b0c1d2e-5d1f-4f0e-9a57-0da7e1a00001")
    with Connection(test_host.access()) as connection:
        with pytest.raises(CommandError) as caught:
            connection.run(step.script())
    assert caught.value.result.exit_code == 3 and "refusing to format" in caught.value.result.stderr
    assert test_host.run(f"blkid -p -o value -s UUID {node}").stdout == before


def test_make_filesystem_recognises_its_own_and_formats_an_empty_partition(test_host):
    node = partition(test_host, "operational")
    uuid = "6b0c1d2e-5d1f-4f0e-9a57-0da7e1a00002"
    step = MakeFilesystem("operational", node, "ext4", "daktela-op", uuid)
    with Connection(test_host.access()) as connection:
        connection.run(step.script())
        assert test_host.run(f"blkid -p -o value -s UUID {node}").stdout.strip() == uuid
        again = connection.run(step.script())
    assert "already formatted by the toolkit" in again.stdout


def test_create_partition_refuses_a_disk_with_a_signature(test_host):
    device = test_host.drives["archive"].device
    test_host.run(f"mkfs.ext4 -q {device}")
    step = CreatePartition("archive", device, f"{device}p1", "daktela-archive")
    with Connection(test_host.access()) as connection:
        with pytest.raises(CommandError) as caught:
            connection.run(step.script())
    assert caught.value.result.exit_code == 3 and "carries a signature" in caught.value.result.stderr
    assert "ext4" in test_host.run(f"blkid -p -o value -s TYPE {device}").stdout
