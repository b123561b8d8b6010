"""Every script a preparation step runs on a host (templates/host/), and the facts script, with
values that need quoting: each passes shellcheck as the POSIX sh the SSH runner uses (`sh -c`),
and no value escapes its quotes. What the scripts do to real drives is tested on the throwaway host
(tests/test_host_steps.py, test_host_prepare.py)."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from components.host import steps as S
from components.host.facts import facts_script
from components.host.ssh import atomic_write_script
from tests.test_cloud_templates import need

AWKWARD = "/srv/it's a $(reboot) `drive`"  # a quote, spaces, substitutions that must stay text


def scripts(value: str) -> dict[str, str]:
    """Each step's script with `value` wherever a path or device name goes."""
    return {
        "wipe-signatures": S.WipeSignatures("archive", "/dev/sdb", ("/dev/sdb1", value), "serial:X").script(),
        "create-partition": S.CreatePartition("operational", value, "/dev/loop0p1", "daktela-operational").script(),
        "reread-partitions": S.RereadPartitions("operational", "/dev/nvme0n1", value).script(),
        "make-filesystem-ext4": S.MakeFilesystem("operational", value, "ext4", "daktela-op", "d62d8cc7").script(),
        "make-filesystem-xfs": S.MakeFilesystem("archive", value, "xfs", "daktela-ar", "fb77dd5a").script(),
        "write-fstab": S.WriteFstab(None, "x\n", ("UUID=1 /srv/a ext4 defaults 0 2",), ("/srv/a", value),
                                    "one").script(),
        "mount-filesystem": S.MountFilesystem("archive", value, "/dev/loop1p1").script(),
        "ensure-directories": S.EnsureDirectories(None, ((value, "mysql", "mysql", 0o700),)).script(),
        "activate-timers": S.ActivateTimers(None, ("daktela-backup.timer", value)).script(),
        "atomic-write": atomic_write_script(value, 0o600),
        "facts": facts_script([value, "/srv/daktela"], [value]),
    }


SCRIPTS = scripts("/srv/daktela archive")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_host_scripts_pass_shellcheck_for_sh(name, tmp_path):
    need("shellcheck")
    script = tmp_path / f"{name}.sh"
    script.write_text(SCRIPTS[name])
    lint = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert lint.returncode == 0, f"{name}:\n{lint.stdout}"


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_no_value_escapes_its_quotes(name):
    """Every value reaches the shell only through `q`: with each quoted occurrence taken out, no
    trace of it is left (messages print device names with printf '%s', not inside "...")."""
    text = scripts(AWKWARD)[name].replace(shlex.quote(AWKWARD), "")
    assert "reboot" not in text and "it's" not in text
