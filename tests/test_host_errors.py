"""Host errors are one family (components/host/errors.py): every error class has an outcome, and
every script that talks to a host reports each outcome with the exit code its docstring promises,
the error's message on stderr.

The scripts run in this process with the host replaced at its edge: `Connection` (or onboarding's
preflight) raises the error, everything before it is the script's own code. What each error means on
a real host is tested where it arises (tests/test_host_ssh.py, test_host_prepare.py,
test_onprem_restore.py, test_onprem_connectivity.py, test_onboard.py).
"""

from __future__ import annotations

import inspect
import sys
from types import SimpleNamespace

import pytest

from components.config import parse_installation
from components.host import errors
from tests.conftest import REPO, example_installation

sys.path.insert(0, str(REPO / "scripts"))

import check_connectivity  # noqa: E402  (scripts/check_connectivity.py)
import onboard  # noqa: E402
import prepare_host  # noqa: E402
import restore  # noqa: E402

ERROR_CLASSES = [c for _, c in inspect.getmembers(errors, inspect.isclass)
                 if issubclass(c, errors.HostError)]

# The exit codes as each script's docstring states them, written out here on purpose: the test
# holds the scripts to their documentation, not to their own tables.
DOCUMENTED = {
    "prepare_host": {"refused": 1, "unreachable": 3, "lost": 4, "failed": 4},
    "restore": {"refused": 1, "failed": 1, "unreachable": 3, "lost": 3},
    "check_connectivity": {"refused": 1, "unreachable": 3, "lost": 3, "failed": 3},
    "onboard": {"refused": 1, "unreachable": 1, "lost": 1, "failed": 1},
}


def test_every_host_error_has_one_of_the_four_outcomes():
    assert {c.__name__ for c in ERROR_CLASSES} >= {
        "HostError", "Unreachable", "HostKeyError", "ConnectionLost", "CommandError", "Refused",
        "FactsUnreadable", "StalePlan", "ReportUnreadable", "StepFailed", "VerifyFailed", "RestoreError"}
    for error_class in ERROR_CLASSES:
        assert error_class.outcome in errors.OUTCOMES, error_class


def _raising(error: errors.HostError):
    class Connection:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            raise error

        def __exit__(self, *exc):
            return False

    return Connection


def _run_script(name: str, error: errors.HostError, monkeypatch, tmp_path) -> int:
    installation = parse_installation(example_installation("on-premise"))
    target = SimpleNamespace(installation=installation, access=SimpleNamespace(name="acme-host"))
    if name == "onboard":
        monkeypatch.setattr(onboard, "preflight", lambda args, installation: (_ for _ in ()).throw(error))
        key = tmp_path / "key"
        key.write_text("not read: the preflight is replaced")
        return onboard.main([
            "--stack", "acme", "--dir", str(tmp_path), "--id", "acme-onprem", "--customer", "ACME",
            "--hosting", "on-premise", "--primary-region", "eu-central-1", "--secondary-region", "eu-west-1",
            "--currency", "EUR", "--start-date", "2026-12-01", "--price-installation", "450",
            "--price-storage-per-gb", "0.25", "--price-on-premise", "200", "--price-setup", "1500",
            "--ledger-region", "eu-central-1", "--ops-email", "ops@example.com", "--host", "192.0.2.10",
            "--key", str(key), "--accept-new-host-key", "--skip-connectivity-check",
            "--operational-drive", "serial:OPS-1", "--archive-drive", "serial:ARC-1",
        ])
    module = {"prepare_host": prepare_host, "restore": restore, "check_connectivity": check_connectivity}[name]
    monkeypatch.setattr(module, "load_target", lambda *args, **kwargs: target)
    monkeypatch.setattr(module, "Connection", _raising(error))
    if name == "prepare_host":
        return prepare_host.main(["Pulumi.acme.yaml", "--key", "k"])
    if name == "restore":
        return restore.main(["Pulumi.acme.yaml", "--key", "k", "--target", "/srv/restore"])
    monkeypatch.setattr(check_connectivity, "read_outputs", lambda path: {})
    monkeypatch.setattr(check_connectivity, "require", lambda outputs, key: {})
    monkeypatch.setattr(check_connectivity, "job_from_outputs", lambda *args: (None, "id", "secret"))
    return check_connectivity.main(["Pulumi.acme.yaml", "--key", "k", "--outputs", "outputs.json"])


@pytest.mark.parametrize("script", sorted(DOCUMENTED))
@pytest.mark.parametrize("error_class", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_each_script_exits_with_its_documented_code_for_each_host_error(script, error_class, monkeypatch,
                                                                       tmp_path, capsys):
    error = error_class(f"acme-host: {error_class.__name__} happened")
    code = _run_script(script, error, monkeypatch, tmp_path)
    assert code == DOCUMENTED[script][error_class.outcome]
    stderr = capsys.readouterr().err
    assert f"acme-host: {error_class.__name__} happened" in stderr
    assert not (tmp_path / "Pulumi.acme.yaml").exists()  # onboarding wrote nothing


def test_a_host_error_keeps_its_detail():
    """The scripts print the message; what it came from stays on the error (`__cause__`, a failed
    command's result) for a traceback or a caller."""
    from components.host.facts import gather

    answer = SimpleNamespace(stdout="Welcome to the host!\n", stderr="", exit_status=0, ok=True)
    connection = SimpleNamespace(access=SimpleNamespace(name="acme-host"), run=lambda *args, **kwargs: answer)
    with pytest.raises(errors.FactsUnreadable) as caught:
        gather(connection)
    assert caught.value.outcome == "refused" and "acme-host" in str(caught.value)
    assert isinstance(caught.value.__cause__, (ValueError, KeyError))
    result = SimpleNamespace(exit_status=1, stdout="", stderr="mkfs: device busy")
    assert errors.CommandError("acme-host: mkfs failed", result).result is result
