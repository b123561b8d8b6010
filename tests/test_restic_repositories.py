"""The seeded repositories (`restic_repositories.py`) are repositories real restic takes as its own:
it opens them with the password only, backs up into them, checks and restores them, and refuses a
wrong password; each has its own id; the key costs restic's floor, not the calibrated 0.5 s."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.test_backups_against_aws import debian_tool
from tests.onprem_fixtures import restic as restic_in
from tests.restic_repositories import FLOOR, repository_files


def restic(repository: Path, password: str, *args: str):
    cache = {**os.environ, "RESTIC_CACHE_DIR": str(repository.parent / "cache")}
    return restic_in(str(repository), *args, env=cache, password=password)


def written(directory: Path, password: str) -> Path:
    for name, body in repository_files(password).items():
        (directory / name).parent.mkdir(parents=True, exist_ok=True)
        (directory / name).write_bytes(body)
    return directory


def test_restic_backs_up_checks_and_restores_a_seeded_repository(tmp_path):
    debian_tool("restic")
    repository = written(tmp_path / "repo", "the password")
    data = tmp_path / "data"
    data.mkdir()
    (data / "file.bin").write_bytes(os.urandom(100_000))

    assert restic(repository, "the password", "backup", "--quiet", str(data)).returncode == 0
    checked = restic(repository, "the password", "check", "--read-data")
    assert checked.returncode == 0, checked.stderr
    restored = restic(repository, "the password", "restore", "latest", "--target", str(tmp_path / "restored"))
    assert restored.returncode == 0, restored.stderr
    assert (tmp_path / "restored" / data.relative_to("/") / "file.bin").read_bytes() == (data / "file.bin").read_bytes()

    wrong = restic(repository, "another password", "snapshots")
    assert wrong.returncode != 0 and "wrong password" in wrong.stderr


def test_each_seeded_repository_is_its_own_with_a_floor_cost_key(tmp_path):
    debian_tool("restic")
    ids = set()
    for number in (1, 2):
        repository = written(tmp_path / f"repo-{number}", "pw")
        config = restic(repository, "pw", "cat", "config")
        assert config.returncode == 0, config.stderr
        ids.add(json.loads(config.stdout)["id"])
        (key_file,) = (repository / "keys").iterdir()
        key = json.loads(key_file.read_text())
        assert {name: key[name] for name in FLOOR} == FLOOR
        listed = restic(repository, "pw", "key", "list", "--json")
        assert [entry["id"] for entry in json.loads(listed.stdout)] == [key_file.name[:8]]  # restic shows 8
    assert len(ids) == 2  # two locations never share restic's cache directory


@pytest.mark.parametrize("damage", ["config", "key"])
def test_a_damaged_seed_is_refused_by_restic(tmp_path, damage):
    """The sealing is restic's: a flipped byte fails its MAC check (and so a correct one is
    restic's format, not something restic happens to ignore)."""
    debian_tool("restic")
    repository = written(tmp_path / "repo", "pw")
    if damage == "config":
        body = bytearray((repository / "config").read_bytes())
        body[20] ^= 1
        (repository / "config").write_bytes(bytes(body))
    else:
        (key_file,) = (repository / "keys").iterdir()
        key = json.loads(key_file.read_text())
        key["data"] = key["data"][:-8] + ("AAAAAAA=" if not key["data"].endswith("AAAAAAA=") else "BBBBBBB=")
        key_file.write_text(json.dumps(key))
    assert restic(repository, "pw", "snapshots").returncode != 0
