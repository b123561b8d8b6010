"""PreparedHost's provider in the process the engine runs it in: the SDK's dynamic provider host
(`python -u -m pulumi.dynamic`), started as `pulumi up` starts it (from the project directory, with
the project's virtualenv Python), spoken to over its gRPC provider protocol, against the throwaway
test host.

The engine keeps the provider in the stack's state as a dill pickle (`__provider`), which names the
provider class by module path. `tests/fixtures/state/prepared-host-provider.b64` is that pickle as
the toolkit wrote it into existing stacks: every later version must still load it, so renaming
`components.prepared_host.PreparedHostProvider` (or moving it) fails here before it strands a stack.
The engine sends a provider that does not accept secrets (Configure answers acceptSecrets=False)
plain values, and marks the outputs named in additional_secret_outputs secret itself.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from components.host.backup_job import files_digest, job_files
from components.prepared_host import PreparedHostProvider
from tests.conftest import REPO
from tests.onprem_fixtures import backup_job
from tests.test_prepared_host import props_for

STORED_PROVIDER = (REPO / "tests" / "fixtures" / "state" / "prepared-host-provider.b64").read_text().strip()
URN = "urn:pulumi:acme::daktela-installation::daktela:onprem:OnPremInstallation$pulumi-python:dynamic/onprem:PreparedHost::acme-host"


def project_python() -> str:
    """The interpreter Pulumi.yaml names (runtime.options.virtualenv: .venv), as the engine uses it."""
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def struct(props: dict) -> struct_pb2.Struct:
    return asyncio.run(rpc.serialize_properties(props, {}))


def plain(message: struct_pb2.Struct) -> dict:
    return rpc.deserialize_properties(message)


class ProviderProcess:
    def __init__(self, log: Path):
        self.log = open(log, "wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PULUMI_PROJECT"] = "daktela-installation"
        self.process = subprocess.Popen(
            [project_python(), "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"],  # the engine's address
            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=self.log,
        )
        line = self.process.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError(f"the dynamic provider host did not start: {line!r}; log:\n{log.read_text()}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{line}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)
        self.log.close()


@pytest.fixture
def provider_process(tmp_path):
    process = ProviderProcess(tmp_path / "provider.log")
    try:
        yield process
    finally:
        process.stop()


def test_the_stored_provider_pickle_still_names_the_provider_class():
    """An existing stack's state holds this pickle; a rename or move breaks every such stack."""
    assert serialize_provider(PreparedHostProvider()) == STORED_PROVIDER


def test_create_read_diff_update_delete_in_the_provider_process(provider_process, test_host):
    stub = provider_process.stub
    configured = stub.Configure(provider_pb2.ConfigureRequest(args=struct({}), acceptSecrets=True))
    assert configured.acceptSecrets is False  # so the engine sends plain values, as below

    job = backup_job(test_host, ["loc-1", "loc-2"], ["https://127.0.0.1:1"] * 2, "unused")
    inputs = {**props_for(test_host), "__provider": STORED_PROVIDER, "backup_job": job.to_dict(),
              "backup_secrets": {"access_key_id": "AKIA", "secret_access_key": "s", "restic_password": "r",
                                 "database_password": "d"},
              "files_digest": files_digest(job_files(job))}
    checked = stub.Check(provider_pb2.CheckRequest(urn=URN, olds=struct({}), news=struct(inputs)))
    assert list(checked.failures) == []
    created = stub.Create(provider_pb2.CreateRequest(urn=URN, properties=checked.inputs, timeout=600))
    assert created.id == f"127.0.0.1:{test_host.port}"
    outputs = plain(created.properties)
    assert outputs["host"]["pending_steps"] == []
    assert outputs["__provider"] == STORED_PROVIDER
    assert test_host.run(f"findmnt -n {test_host.mount_point('operational')}").returncode == 0
    # Numbers cross the protocol as doubles: the units on the host must still say 7200, not 7200.0.
    unit = test_host.run("cat /etc/systemd/system/daktela-backup.service").stdout
    assert "TimeoutStartSec=7200\n" in unit, unit
    assert test_host.run("cat /etc/daktela-toolkit/backup-job.json").stdout == job_files(job)[0].content

    # Refresh reads the host: drift (a directory gone) shows as a pending step.
    test_host.run(f"rmdir {test_host.mount_point('operational')}/recordings")
    read = stub.Read(provider_pb2.ReadRequest(id=created.id, urn=URN, properties=created.properties,
                                              inputs=checked.inputs))
    assert [s for s in plain(read.properties)["host"]["pending_steps"] if "recordings" in s]

    # Diff compares inputs only: unchanged inputs are no change, a new port replaces.
    same = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties, news=checked.inputs))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
    moved = stub.Diff(provider_pb2.DiffRequest(id=created.id, urn=URN, olds=created.properties,
                                               news=struct({**inputs, "port": 2222})))
    assert moved.changes == provider_pb2.DiffResponse.DIFF_SOME and list(moved.replaces) == ["port"]

    updated = stub.Update(provider_pb2.UpdateRequest(id=created.id, urn=URN, olds=read.properties,
                                                     news=checked.inputs, timeout=600))
    assert plain(updated.properties)["host"]["pending_steps"] == []
    assert test_host.run(f"stat -c %a {test_host.mount_point('operational')}/database").stdout.strip() == "700"

    fstab = test_host.fstab()
    stub.Delete(provider_pb2.DeleteRequest(id=created.id, urn=URN, properties=updated.properties))
    assert not (test_host.root / "etc" / "daktela-toolkit" / "host.json").exists()
    assert test_host.fstab() == fstab  # drives, fstab lines and mounts stay


def test_a_provider_error_reaches_the_engine_as_an_error_not_a_crash(provider_process, test_host):
    inputs = {**props_for(test_host), "__provider": STORED_PROVIDER, "port": 1}  # nothing listens there
    with pytest.raises(grpc.RpcError) as failure:
        provider_process.stub.Create(provider_pb2.CreateRequest(urn=URN, properties=struct(inputs), timeout=60))
    assert failure.value.code() == grpc.StatusCode.UNKNOWN
    assert "127.0.0.1" in failure.value.details()
    # the process serves on after a failed call
    same = provider_process.stub.Diff(provider_pb2.DiffRequest(id="x", urn=URN, olds=struct(inputs), news=struct(inputs)))
    assert same.changes == provider_pb2.DiffResponse.DIFF_NONE
