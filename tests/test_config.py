"""Stack config validation: good configs load with their defaults, and every bad config stops the
program before any resource is registered, naming its config path and what to do."""

from __future__ import annotations

import dataclasses

import re
from datetime import date, time
from decimal import Decimal

import pytest

from components.config import CloudConfig, ConfigError, Installation, OnPremConfig, parse_installation
from tests.conftest import example_installation, run_recorded, secret_values, stack_input

_DELETE = object()


def _apply(installation: dict, path: str, value) -> None:
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    node = installation
    for part in parts[:-1]:
        node = node[int(part[1:-1])] if part.startswith("[") else node.setdefault(part, {})
    last = parts[-1]
    key = int(last[1:-1]) if last.startswith("[") else last
    if value is _DELETE:
        del node[key]
    else:
        node[key] = value


def mutated(hosting: str, **changes) -> dict:
    installation = example_installation(hosting)
    for path, value in changes.items():
        _apply(installation, path.replace("__", "."), value)
    return installation


C, O = "cloud", "on-premise"

# (case id, hosting, {path: new value or _DELETE}, expected problem path, expected message fragment)
BAD_CONFIGS = [
    ("time-of-day", C, {"backup.times": ["02:00", "25:00", "18:00"]},
     "installation.backup.times[1]", '"25:00" is not a time of day (HH:MM'),
    ("hosting-unknown", C, {"hosting": "hybrid"},
     "installation.hosting", "'hybrid' is not one of 'cloud' or 'on-premise'"),
    ("id-missing", C, {"id": _DELETE}, "installation.id", "is required: installation id"),
    ("id-format", C, {"id": "ACME_1"}, "installation.id", "lowercase letters, digits and dashes"),
    ("regions-same", O, {"regions.secondary": "eu-central-1"},
     "installation.regions.secondary", "is the same region as regions.primary"),
    ("region-format", C, {"regions.primary": "europe-1"},
     "installation.regions.primary", '"europe-1" is not an AWS region name'),
    ("currency", C, {"contract.currency": "euro"},
     "installation.contract.currency", "not an ISO 4217 code"),
    ("price-negative", C, {"contract.prices.installation_monthly": -5},
     "installation.contract.prices.installation_monthly", "must be a number of 0 or more"),
    ("price-text", C, {"contract.prices.storage_per_gb": "cheap"},
     "installation.contract.prices.storage_per_gb", '"cheap" is not a price'),
    ("price-precision", C, {"contract.prices.storage_per_gb": 0.123456},
     "installation.contract.prices.storage_per_gb", "more than 4 decimal places"),
    ("onprem-without-9.04", O, {"contract.prices.on_premise_monthly": _DELETE},
     "installation.contract.prices.on_premise_monthly", "required for an on-premise installation (fee 9.04)"),
    ("cloud-with-6.21", C, {"contract.prices.on_premise_setup": 1000},
     "installation.contract.prices.on_premise_setup", "fee 6.21 applies only to on-premise"),
    ("start-date", C, {"contract.start_date": "2026-13-01"},
     "installation.contract.start_date", "must be a valid date or datetime, month value is outside expected range of 1-12, got '2026-13-01' (contract start (YYYY-MM-DD)"),
    ("cloud-two-times", C, {"backup.times": ["02:00", "14:00"]},
     "installation.backup.times", "three times a day, one time per technology"),
    ("cloud-same-time", C, {"backup.times": ["02:00", "02:00", "18:00"]},
     "installation.backup.times[1]", "is the same time as times[0]"),
    ("times-too-close", C, {"backup.times": ["02:00", "02:30", "18:00"]},
     "installation.backup.times[1]", "is only 30 minutes from times[0]; backups must run at different times, at least 120"),
    ("cloud-times-need-two-hours", C, {"backup.times": ["02:00", "03:30", "18:00"]},
     "installation.backup.times[1]", "is only 90 minutes from times[0]; backups must run at different times, at least 120"),
    ("vault-lock-beyond-retention", C, {"cloud.vault_lock_days": 60, "cloud.backup_retention_days": 35},
     "installation.cloud.vault_lock_days", "longer than cloud.backup_retention_days (35)"),
    ("onprem-once-a-day", O, {"backup.times": ["01:00"]},
     "installation.backup.times", "at least twice a day"),
    ("cloud-timezone", C, {"backup.timezone": "Europe/Prague"},
     "installation.backup.timezone", "AWS schedules run on UTC"),
    ("timezone-unknown", O, {"backup.timezone": "Mars/Olympus"},
     "installation.backup.timezone", "is not an IANA time zone"),
    ("reserve-zero", C, {"backup.reserve_hours": 0},
     "installation.backup.reserve_hours", "must be greater than or equal to 1"),
    ("no-ops-address", C, {"notifications.ops": []},
     "installation.notifications.ops", "needs at least 1 entry: addresses alerted"),
    ("email", C, {"notifications.ops": ["ops-at-example"]},
     "installation.notifications.ops[0]", '"ops-at-example" is not an e-mail address'),
    ("typo-key", C, {"backup.reserve_hour": 2, "backup.reserve_hours": _DELETE},
     "installation.backup.reserve_hour", "did you mean 'reserve_hours'?"),
    ("cloud-section-missing", C, {"cloud": _DELETE},
     "installation.cloud", "is required when hosting is 'cloud'"),
    ("cloud-section-on-onprem", O, {"cloud": {"subnet_id": "subnet-0a1b2c3d4e5f60718"}},
     "installation.cloud", "applies only when hosting is 'cloud'"),
    ("ssh-from-anywhere", C, {"cloud.admin_cidrs": ["0.0.0.0/0"]},
     "installation.cloud.admin_cidrs[0]", "opens SSH to the whole internet"),
    ("subnet-id", C, {"cloud.subnet_id": "subnet-xyz"},
     "installation.cloud.subnet_id", "'subnet-xyz' is not valid here: subnet of the instance"),
    ("rtp-range", C, {"cloud.rtp_ports": {"first": 20000, "last": 10000}},
     "installation.cloud.rtp_ports.last", "10000 is below rtp_ports.first (20000)"),
    ("attachments-below-included", C, {"cloud.volumes_gb.attachments": 50},
     "installation.cloud.volumes_gb.attachments", "less than the included storage (100 GB)"),
    ("cloud-drill-scratch-on-a-volume", C, {"cloud.restore_drill.scratch_dir": "/srv/daktela/recordings/tmp"},
     "installation.cloud.restore_drill.scratch_dir", "on the data volumes (/srv/daktela), which are backed up"),
    ("cloud-drill-scratch-above-the-volumes", C, {"cloud.restore_drill.scratch_dir": "/srv"},
     "installation.cloud.restore_drill.scratch_dir", "choose a directory of its own elsewhere"),
    ("kernel-device-name", O, {"on_premise.drives.operational.identity": "/dev/sdb"},
     "installation.on_premise.drives.operational.identity", "kernel device name, which can change"),
    ("same-drive-twice", O,
     {"on_premise.drives.archive.identity": "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4"},
     "installation.on_premise.drives.archive.identity", "is the operational drive too"),
    ("wipe-consent-mismatch", O, {"on_premise.drives.archive.allow_wipe": "yes"},
     "installation.on_premise.drives.archive.allow_wipe", "must repeat its exact identity"),
    ("mount-on-system-dir", O, {"on_premise.drives.operational.mount_point": "/var"},
     "installation.on_premise.drives.operational.mount_point", '"/var" is a system directory'),
    ("drill-scratch-on-a-drive", O, {"on_premise.restore_drill.scratch_dir": "/srv/daktela/tmp"},
     "installation.on_premise.restore_drill.scratch_dir", "a drill's scratch data there would be backed up"),
    ("nested-mounts", O, {"on_premise.drives.archive.mount_point": "/srv/daktela/archive"},
     "installation.on_premise.drives.archive.mount_point", "overlaps the operational mount point"),
    ("no-host-key", O, {"on_premise.host.host_key_fingerprint": _DELETE},
     "installation.on_premise.host.host_key_fingerprint", "the host key must be verified"),
    ("host-key-format", O, {"on_premise.host.host_key_fingerprint": "MD5:aa:bb"},
     "installation.on_premise.host.host_key_fingerprint", "is not an SSH host key fingerprint"),
    ("drive-size", O, {"on_premise.drives.archive.size_bytes": 0},
     "installation.on_premise.drives.archive.size_bytes", "must be greater than 0"),
    ("archive-days", O, {"on_premise.archive_after_days": 0},
     "installation.on_premise.archive_after_days", "must be greater than or equal to 1"),
    ("filesystem", O, {"on_premise.drives.archive.filesystem": "btrfs"},
     "installation.on_premise.drives.archive.filesystem", "'btrfs' is not one of 'ext4' or 'xfs'"),
    ("ssh-port", O, {"on_premise.host.port": 70000},
     "installation.on_premise.host.port", "must be less than or equal to 65535"),
    ("host-address", O, {"on_premise.host.address": "cc acme"},
     "installation.on_premise.host.address", "is neither a host name nor an IP address"),
    ("ledger-region-missing", C, {"ledger.region": _DELETE},
     "installation.ledger.region", "is required: AWS region of the ledger table"),
    ("region-that-does-not-exist", C, {"regions.secondary": "eu-central-9"},
     "installation.regions.secondary", 'is not an AWS region where every service the toolkit uses runs'),
    ("section-not-mapping", C, {"contract": "450 EUR"},
     "installation.contract", "must be a mapping of settings, got '450 EUR'"),
    ("silence-too-long", O, {"backup.silence_minutes": 6},
     "installation.backup.silence_minutes", "must be less than or equal to 5"),
    ("verify-cycle-beyond-restic", C, {"backup.verify_cycle_days": 300},
     "installation.backup.verify_cycle_days", "must be less than or equal to 256"),
    ("second-location-after-the-window", O, {"on_premise.second_location_after_minutes": 120},
     "installation.on_premise.second_location_after_minutes",
     "120 minutes is not less than backup_window_minutes (120); location 2 must start within the run's window"),
    ("directory-owner-format", O, {"on_premise.directory_owners": {"database": "mysql"}},
     "installation.on_premise.directory_owners.database", '"mysql" is not user:group'),
    ("directory-owner-unknown-directory", O, {"on_premise.directory_owners": {"databse": "mysql:mysql"}},
     "installation.on_premise.directory_owners.databse", "not one of 'application', 'database'"),
]


@pytest.mark.parametrize(
    "hosting,changes,path,fragment",
    [case[1:] for case in BAD_CONFIGS],
    ids=[case[0] for case in BAD_CONFIGS],
)
def test_bad_config_stops_before_any_resource(hosting, changes, path, fragment):
    installation = example_installation(hosting)
    for change_path, value in changes.items():
        _apply(installation, change_path, value)

    error, recorder = run_recorded(stack_input(installation))

    assert isinstance(error, ConfigError), error
    assert recorder.resources == [], "a bad config must stop before anything is registered"
    assert [p.path for p in error.problems] == [path], str(error)
    assert fragment in error.problems[0].message
    assert f"{path}: " in str(error)


def test_bad_config_cases_each_have_their_own_message():
    assert len(BAD_CONFIGS) >= 20
    assert len({(case[3], case[4]) for case in BAD_CONFIGS}) == len(BAD_CONFIGS)


def test_every_problem_is_listed_at_once():
    installation = example_installation(O)
    _apply(installation, "backup.times", ["01:00", "24:00"])
    _apply(installation, "contract.currency", 7)
    _apply(installation, "on_premise.host.port", "ssh")
    with pytest.raises(ConfigError) as caught:
        parse_installation(installation)
    assert [p.path for p in caught.value.problems] == [
        "installation.contract.currency",
        "installation.backup.times[1]",
        "installation.on_premise.host.port",
    ]
    assert str(caught.value).startswith("The stack config has 3 problems:")


def test_missing_installation_key_is_named():
    error, recorder = run_recorded(stack_input(None, secrets={}))
    assert isinstance(error, ConfigError)
    assert recorder.resources == []
    assert error.problems[0].path == "installation"
    assert "daktela:installation" in error.problems[0].message


def test_missing_secret_names_the_key_and_the_command():
    secrets = secret_values(O)
    del secrets["daktela:hostSshPrivateKey"]
    error, recorder = run_recorded(stack_input(example_installation(O), secrets=secrets))
    assert isinstance(error, ConfigError) and recorder.resources == []
    assert [p.path for p in error.problems] == ["daktela:hostSshPrivateKey"]
    assert "pulumi config set --secret daktela:hostSshPrivateKey" in error.problems[0].message


def test_secret_stored_in_plain_text_is_refused_without_echoing_it():
    secrets = secret_values(C)
    del secrets["daktela:databasePassword"]
    stack = stack_input(example_installation(C), secrets=secrets,
                        plain={"daktela:databasePassword": "hunter2-plain"})
    error, recorder = run_recorded(stack)
    assert isinstance(error, ConfigError) and recorder.resources == []
    assert [p.path for p in error.problems] == ["daktela:databasePassword"]
    assert "stored in plain text" in str(error)
    assert "hunter2-plain" not in str(error)


def test_secret_problems_are_listed_with_plain_problems():
    installation = example_installation(O)
    installation["backup"]["times"] = ["01:00"]
    error, _ = run_recorded(stack_input(installation, secrets={}))
    paths = [p.path for p in error.problems]
    assert "installation.backup.times" in paths
    assert {"daktela:databasePassword", "daktela:backupRepositoryPassword",
            "daktela:hostSshPrivateKey"} <= set(paths)


def test_cloud_example_loads_with_typed_values():
    installation = parse_installation(example_installation(C))
    assert installation.hosting == "cloud"
    assert installation.contract.start_date == date(2026, 12, 1)
    assert installation.contract.prices.installation_monthly == Decimal("450.00")
    assert str(installation.contract.prices.installation_monthly) == "450.00"
    assert installation.backup_times == [time(2), time(10), time(18)]
    assert installation.backup_max_age_hours == 28


def test_defaults_fill_what_a_minimal_config_leaves_out():
    installation = example_installation(O)
    del installation["backup"]
    del installation["contract"]["included_storage_gb"]
    del installation["on_premise"]["archive_after_days"]
    del installation["on_premise"]["drives"]["archive"]["mount_point"]
    parsed = parse_installation(installation)
    assert parsed.backup_times == [time(1), time(13)]
    assert parsed.backup.timezone == "UTC"
    assert parsed.backup.reserve_hours == 4
    assert parsed.contract.included_storage_gb == 100
    assert parsed.on_premise.archive_after_days == 90
    assert parsed.on_premise.drives.mount_point("archive") == "/srv/daktela-archive"
    assert parsed.database.engine == "mariadb"


def test_on_premise_times_may_be_an_hour_apart():
    installation = example_installation(O)
    installation["backup"]["times"] = ["01:00", "02:00"]
    assert parse_installation(installation).backup_times == [time(1), time(2)]


def test_cloud_defaults_to_three_distinct_utc_times():
    installation = example_installation(C)
    del installation["backup"]["times"]
    parsed = parse_installation(installation)
    assert parsed.backup_times == [time(2), time(10), time(18)]


def test_wipe_consent_that_repeats_the_identity_is_accepted():
    installation = example_installation(O)
    drive = installation["on_premise"]["drives"]["archive"]
    drive["allow_wipe"] = drive["identity"]
    assert parse_installation(installation).on_premise.drives.archive.allow_wipe == drive["identity"]


@pytest.mark.parametrize("identity", [
    "/dev/disk/by-id/ata-ST2000DM008-2FR102_ZFL1ABCD",
    "wwn:0x5000c500a1b2c3d4",
    "serial:ZFL1ABCD",
    "loop:/var/lib/daktela-test/operational.img",
])
def test_drive_identity_forms(identity):
    installation = example_installation(O)
    installation["on_premise"]["drives"]["operational"]["identity"] = identity
    assert parse_installation(installation).on_premise.drives.operational.identity == identity


def test_prices_accept_strings_as_pulumi_config_set_writes_them():
    installation = example_installation(O)
    installation["contract"]["prices"]["on_premise_setup"] = "1500"
    installation["contract"]["prices"]["storage_per_gb"] = "0.0125"
    prices = parse_installation(installation).contract.prices
    assert str(prices.on_premise_setup) == "1500.00"
    assert str(prices.storage_per_gb) == "0.0125"


def test_unknown_keys_of_the_namespace_are_refused_with_what_was_meant():
    """Issue 11: daktela:databasePasword and daktela:foo were planned without a word."""
    secrets = secret_values(C)
    stack = stack_input(example_installation(C), secrets=secrets,
                        plain={"daktela:databasePasword": "x", "daktela:foo": "1", "aws:region": "eu-central-1"})
    error, recorder = run_recorded(stack)
    assert isinstance(error, ConfigError) and recorder.resources == []
    problems = {p.path: p.message for p in error.problems}
    assert set(problems) == {"daktela:databasePasword", "daktela:foo"}  # aws:region is the provider's
    assert 'did you mean "daktela:databasePassword"?' in problems["daktela:databasePasword"]
    assert "is not a key the toolkit reads" in problems["daktela:foo"]


def test_a_mistyped_namespace_is_named_not_just_a_missing_installation():
    installation = example_installation(C)
    stack = stack_input(installation)
    config = {("daktla:installation" if k == "daktela:installation" else k): v for k, v in stack.config.items()}
    error, _ = run_recorded(dataclasses.replace(stack, config=config))
    paths = [p.path for p in error.problems]
    assert "daktla:installation" in paths and "installation" in paths
    assert 'namespace "daktla" is not "daktela"; did you mean "daktela:installation"?' in str(error)


def test_region_suggestion_names_the_close_one():
    installation = example_installation(C)
    installation["regions"]["primary"] = "eu-centrl-1"
    error, _ = run_recorded(stack_input(installation))
    assert 'did you mean "eu-central-1"?' in str(error)


@pytest.mark.parametrize("hosting, kind", [("cloud", CloudConfig), ("on-premise", OnPremConfig)])
def test_an_installation_comes_back_as_its_hostings_own_type(hosting, kind):
    """Components take CloudConfig or OnPremConfig, whose hosting section is not optional: the type
    checker, not an assert in each component, says what a component needs."""
    raw = example_installation(hosting)
    installation = parse_installation(raw)
    assert type(installation) is kind and isinstance(installation, Installation)
    assert installation.model_dump() == Installation.model_validate(raw).model_dump()


def test_known_regions_are_what_a_botocore_session_lists_for_every_service():
    """known_regions reads botocore's endpoint data directly (fast); it must equal what a session
    lists per service (each service's model loaded), and the endpoint prefixes must be the models'."""
    import botocore.session

    from components.config.values import SERVICE_ENDPOINT_PREFIXES, known_regions

    session = botocore.session.get_session()
    assert {s: session.get_service_model(s).endpoint_prefix for s in SERVICE_ENDPOINT_PREFIXES} == \
        SERVICE_ENDPOINT_PREFIXES
    expected = set(session.get_available_regions("s3"))
    for service in SERVICE_ENDPOINT_PREFIXES:
        available = set(session.get_available_regions(service))
        expected &= available if available else expected
    assert known_regions() == tuple(sorted(expected)) and "eu-central-1" in known_regions()
