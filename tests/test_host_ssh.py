"""The SSH runner against a real sshd: host key checks before anything runs, deadlines, uploads."""

from __future__ import annotations

import io

import paramiko
import pytest

from components.host.ssh import CommandError, Connection, HostError, HostKeyError


def accepted_logins(host) -> int:
    return host.log().count("Accepted publickey")


def test_pinned_fingerprint_connects_and_runs_as_root_through_sudo(test_host):
    with Connection(test_host.access()) as connection:
        assert connection.run("id -u").stdout.strip() == "0"
        assert connection.run("id -un", privileged=False).stdout.strip() == "dkhost"
    assert accepted_logins(test_host) == 1


def test_root_user_runs_without_sudo(test_host):
    with Connection(test_host.access(user="root")) as connection:
        assert connection.run("id -u").stdout.strip() == "0"


def test_wrong_pinned_key_is_refused_before_authentication(test_host):
    wrong = "SHA256:" + "A" * 43
    with pytest.raises(HostKeyError) as caught:
        Connection(test_host.access(host_key_fingerprint=wrong))
    assert f"is not the pinned {wrong}; refusing to connect" in str(caught.value)
    assert test_host.host_fingerprint in str(caught.value)
    assert accepted_logins(test_host) == 0  # never authenticated, so no command could run


def test_unknown_key_is_refused_unless_accepted_explicitly(test_host):
    with pytest.raises(HostKeyError, match="unknown host key SHA256:"):
        Connection(test_host.access(host_key_fingerprint=None))
    assert accepted_logins(test_host) == 0
    shown = []
    with Connection(test_host.access(host_key_fingerprint=None, accept_new_host_key=True),
                    on_new_host_key=shown.append) as connection:
        connection.run("true")
    assert shown == [test_host.host_fingerprint]


def test_known_hosts_file_match_and_mismatch(test_host, tmp_path):
    public = (test_host.root / "keys" / "host.pub").read_text().split()
    known = tmp_path / "known_hosts"
    known.write_text(f"[127.0.0.1]:{test_host.port} {public[0]} {public[1]}\n")
    with Connection(test_host.access(host_key_fingerprint=None, known_hosts_file=str(known))) as connection:
        assert connection.run("echo ok").stdout == "ok\n"

    other = (test_host.root / "keys" / "client.pub").read_text().split()
    known.write_text(f"[127.0.0.1]:{test_host.port} {other[0]} {other[1]}\n")
    with pytest.raises(HostKeyError, match="differs from the one in"):
        Connection(test_host.access(host_key_fingerprint=None, known_hosts_file=str(known)))


def test_large_interleaved_output_is_read_completely(test_host):
    script = "head -c 3000000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero | tr '\\0' b >&2; echo; echo end"
    with Connection(test_host.access()) as connection:
        result = connection.run(script, timeout=60)
    assert result.stdout.count("a") == 3000000 and result.stdout.endswith("\nend\n")
    assert len(result.stderr) == 2000000


def test_deadline_stops_a_hanging_command(test_host):
    with Connection(test_host.access()) as connection:
        with pytest.raises(CommandError, match="ran past 1s"):
            connection.run("sleep 30", timeout=1)
        assert connection.run("echo still usable").ok


def test_failed_command_reports_exit_code_and_stderr(test_host):
    with Connection(test_host.access()) as connection:
        with pytest.raises(CommandError) as caught:
            connection.run("echo boom >&2; exit 7")
        assert "exit code 7" in str(caught.value) and "boom" in str(caught.value)
        assert not connection.run("exit 3", check=False).ok


def test_upload_is_atomic_and_leaves_no_temp_file(test_host):
    with Connection(test_host.access()) as connection:
        connection.upload("/etc/daktela-toolkit/example.env", b"SECRET=1\n", mode=0o600)
        listing = connection.run("ls -la /etc/daktela-toolkit; stat -c '%a %U' /etc/daktela-toolkit/example.env").stdout
    assert "600 root" in listing
    assert ".daktela-upload" not in listing
    assert (test_host.root / "etc" / "daktela-toolkit" / "example.env").read_text() == "SECRET=1\n"


def test_refused_key_and_unreachable_host_are_clear(test_host):
    stranger = io.StringIO()
    paramiko.RSAKey.generate(2048).write_private_key(stranger)
    with pytest.raises(HostError, match="the SSH key was refused"):
        Connection(test_host.access(private_key=stranger.getvalue()))
    with pytest.raises(HostError, match="cannot connect"):
        Connection(test_host.access(port=1))


def test_a_connection_lost_mid_command_is_reported_as_lost_not_as_exit_code_minus_one(test_host):
    """Issue 12: a dropped channel read as "command failed with exit code -1"."""
    from components.host.ssh import ConnectionLost

    with Connection(test_host.access()) as connection:
        with pytest.raises(ConnectionLost, match="the connection was lost during a command"):
            connection.run("kill -9 $PPID; sleep 5", privileged=False)  # the session's sshd dies
