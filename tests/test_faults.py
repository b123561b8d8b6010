"""The fault matrix (issue 23): what a fleet meets every month, each ending in an alarm with its cause.

A throwaway host runs the on-premise backup with the plan's own host key against the strict double
of S3, IAM and KMS (tests/strict_aws.py), with Debian 12's restic 0.14, curl 7.88 and awscli 2.9;
the checker runs with the plan's checker policy and publishes what the alarms watch. One backup
has run before each fault. Then, where the fault allows it, each test asserts:
- the other location is backed up on time: its run starts within `second_location_after` of the
  run's start (a short sequence, whatever location 1 does) and ends with a new snapshot;
- the failure reaches status with its cause in one line (the host's result, the checker's finding)
  and the alarm metrics within one check (BackupLastRunFailed, RestoreDrillFailed,
  RepositoryCheckFailed at 1) or, where nothing can reach the cloud, when the host's next report
  was due (`next_due`);
- the run's exit code;
- nothing already backed up is lost: every snapshot from before is still in each location.
Deadlines are settings: silence 20 s (8 s for the location that never answers), location 2 after 2 s
(production: 3 minutes and 15).
docs/operate.md ("When a backup meets a fault") is this matrix as a table, row for row.
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import time
from datetime import datetime, timedelta, timezone
from typing import Optional

import pytest

from tests.conftest import REPO
from tests.test_backups_against_aws import (  # noqa: F401  (fixtures)
    PRIMARY, SECONDARY, cloud_plan, instance, locations, onprem_plan, world,
)

SILENCE = 20  # more than restic's own retries against a refusing location (about 12 s)
HANG_SILENCE = 8  # a location that never answers needs no room for restic's retries
SEQUENCE = 2
SLACK = 3  # seconds: a busy machine starts a process late
INSTALLATION = "acme-onprem"


def one_line(text: str) -> bool:
    return bool(text) and "\n" not in text and ".go:" not in text and "goroutine" not in text


class Site:
    """The customer's host after its first backup, and what the cloud sees of it."""

    def __init__(self, world, locations, host, monkeypatch):  # noqa: F811
        from tests.onprem_fixtures import install, prepared_with_data, seed_locations

        self.world, self.locations, self.host, self.monkeypatch = world, locations, host, monkeypatch
        prepared_with_data(host)
        self.job = self.install()
        seed_locations(self.job, locations.admin_s3)
        first = host.run("/usr/local/sbin/daktela-backup")
        assert first.returncode == 0, first.stdout + first.stderr
        self.kept = self.snapshots()
        self._install = install

    def install(self, location_1: Optional[str] = None, secret: Optional[str] = None, **changes):
        from tests.onprem_fixtures import install

        changes = {"silence_seconds": SILENCE, "second_location_after_seconds": SEQUENCE, **changes}
        job = self.locations.job([location_1 or self.world.endpoint, self.world.endpoint], **changes)
        install(self.host, job, self.locations.key.access_key_id, secret or self.locations.key.secret_access_key)
        self.job = job
        return job

    def run(self, command: str = "/usr/local/sbin/daktela-backup"):
        started = time.time()
        result = self.host.run(command)
        result.started, result.took = started, time.time() - started
        return result

    def local(self, kind: str, number: int) -> dict:
        name = f"location-{number}" if kind == "location" else f"{kind}-location-{number}"
        return json.loads(self.host.run(f"cat /var/lib/daktela-backup/{name}.json").stdout)

    def snapshots(self) -> dict[int, set[str]]:
        found = {}
        for number, (bucket, region) in enumerate(zip(self.locations.buckets, (PRIMARY, SECONDARY)), 1):
            listed = self.locations.admin_s3(region).list_objects_v2(
                Bucket=bucket, Prefix=f"restic/{INSTALLATION}/snapshots/").get("Contents", [])
            found[number] = {item["Key"].rsplit("/", 1)[-1] for item in listed}
        return found

    def nothing_lost(self) -> None:
        now = self.snapshots()
        for number, before in self.kept.items():
            assert before <= now[number], f"location {number} lost snapshots {before - now[number]}"

    def backed_up_on_time(self, run, number: int = 2) -> None:
        """Location `number` started within the short sequence and made a new snapshot."""
        result = self.local("location", number)
        assert result["result"] == "success", result
        started = datetime.fromisoformat(result["started"].replace("Z", "+00:00")).timestamp()
        assert started - run.started <= SEQUENCE + SLACK + 1, (started - run.started, run.stdout)
        assert result["snapshot"] in {s[:len(result["snapshot"])] for s in self.snapshots()[number]}

    def failure(self, number: int = 1) -> dict:
        result = self.local("location", number)
        assert result["result"] == "failed", result
        failure = result.get("failure") or {"cause": result.get("error"), "kind": "failed"}
        assert one_line(failure["cause"]), failure
        return failure

    def checker(self, now: Optional[datetime] = None):
        """The findings and what the checker published, with the plan's checker policy."""
        from components.config import parse_installation
        from components.freshness import Watch, boto3_clients, check, publish
        from components.installation import onprem_freshness_watch
        from tests.conftest import example_installation

        installation = parse_installation(example_installation("on-premise"))
        watch = Watch.from_json(onprem_freshness_watch(installation, self.locations.buckets).to_json())
        self.world.act_as(self.monkeypatch, self.locations.checker_key)
        clients = boto3_clients(self.world.endpoint)
        findings = {f.technology: f for f in check(watch, clients, now)}
        publish(watch, list(findings.values()), clients)
        return findings, self.published()

    def published(self) -> dict[tuple[str, str], float]:
        cloudwatch = self.world.admin_client("cloudwatch", PRIMARY)
        found = {}
        for metric in cloudwatch.list_metrics(Namespace=f"Daktela/{INSTALLATION}")["Metrics"]:
            technology = next((d["Value"] for d in metric["Dimensions"] if d["Name"] == "Technology"), "")
            points = cloudwatch.get_metric_statistics(
                Namespace=f"Daktela/{INSTALLATION}", MetricName=metric["MetricName"], Dimensions=metric["Dimensions"],
                StartTime=datetime.now(timezone.utc) - timedelta(hours=1),
                EndTime=datetime.now(timezone.utc) + timedelta(minutes=5), Period=3600, Statistics=["Maximum"])
            if points["Datapoints"]:
                found[(metric["MetricName"], technology)] = max(p["Maximum"] for p in points["Datapoints"])
        return found

    def alarmed(self, technology: str, metric: str = "BackupLastRunFailed"):
        findings, published = self.checker()
        assert not findings[technology].ok, findings[technology]
        assert published[(metric, technology)] == 1.0
        return findings[technology]

    def no_restic_left(self) -> None:
        """No restic process of the host (its mount namespace; other tests' run beside it) outlived the run."""
        left = []
        for pid in self.host._namespace_pids():
            try:
                if open(f"/proc/{pid}/comm").read().strip() == "restic":
                    left.append(pid)
            except OSError:
                continue
        assert not left, f"restic processes {left} outlived their run"


@pytest.fixture
def site(world, locations, test_host, monkeypatch):  # noqa: F811
    return Site(world, locations, test_host, monkeypatch)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- a location misbehaves: the other is backed up on time -----------------------------------------

def test_a_location_that_hangs_after_connecting_holds_neither_the_other_nor_the_run(site):
    """Issue 23.1: a location that accepts and never answers kept restic waiting for more than 10
    minutes; location 2 was not backed up and the status said "fresh" for both."""
    from tests.rude_network import SilentLocation

    from components.host.restore import restore
    from components.host.ssh import Connection

    silent = SilentLocation(site.world.ca, site.world.ca.with_name("proxy.key"))
    try:
        site.install(location_1=silent.endpoint, silence_seconds=HANG_SILENCE)
        run = site.run()
        # a restore meanwhile: location 1 is surveyed within the silence, named with its cause, and
        # the newest snapshot of location 2 restored
        with Connection(site.host.access()) as connection:
            restored = restore(connection, str(site.host.root / "restored"))
    finally:
        silent.close()
    assert restored.location.number == 2 and restored.restored_files > 0
    [unusable] = [state for state in restored.locations if state.number == 1]
    assert unusable.error.startswith(f"no progress for {HANG_SILENCE} s (the location stopped answering)")
    assert silent.accepted > 0  # it was reached, and hung
    assert run.returncode == 1, run.stdout + run.stderr
    site.backed_up_on_time(run)
    failure = site.failure()
    assert failure["kind"] == "silent" and failure["cause"].startswith(f"no progress for {HANG_SILENCE} s")
    # given up within the silence (and the uploads of its results), not at the window's end
    assert run.took < HANG_SILENCE + 2 * site.job.share_max_seconds + 30, run.took
    site.no_restic_left()
    finding = site.alarmed("location-1")
    assert finding.failed.endswith(failure["cause"])  # the one line, as the operator reads it
    findings, published = site.checker()
    assert findings["location-2"].status == "fresh" and published[("BackupLastRunFailed", "location-2")] == 0.0
    site.nothing_lost()


def test_a_location_that_refuses(site):
    site.install(location_1=f"https://127.0.0.1:{_free_port()}")
    run = site.run()
    assert run.returncode == 1
    site.backed_up_on_time(run)
    failure = site.failure()
    assert failure["kind"] == "unreachable" and "connection refused" in failure["cause"]
    assert "connection refused" in site.alarmed("location-1").failed
    site.nothing_lost()


def test_a_location_unknown_in_dns(site):
    from tests.rude_network import UNKNOWN_NAME

    # the host's own resolver answers nothing (its private /etc): no query leaves this machine
    site.host.run("echo 'nameserver 127.0.0.1' > /etc/resolv.conf")
    site.install(location_1=f"https://{UNKNOWN_NAME}")
    run = site.run()
    assert run.returncode == 1
    site.backed_up_on_time(run)
    failure = site.failure()
    assert failure["kind"] == "unreachable" and f"lookup {UNKNOWN_NAME}" in failure["cause"]
    assert UNKNOWN_NAME in site.alarmed("location-1").failed
    site.nothing_lost()


def test_a_crawling_link_is_given_the_window_and_no_more(site):
    """Throttled below what the window needs (the kernel's tbf in a network namespace): location 1
    keeps going far past the silence limit while it progresses, and is ended when its window ends
    (one minute here), its cause saying so; location 2 is backed up at its time meanwhile."""
    from tests.rude_network import ShapedLocation

    new_data = f"{site.host.mount_point('operational')}/attachments/2026/12"
    assert site.host.run(f"mkdir -p {new_data} && head -c 6000000 /dev/urandom > {new_data}/scans.zip").returncode == 0
    link = ShapedLocation(int(site.world.endpoint.rsplit(":", 1)[1]), rate="256kbit")
    try:
        site.host.run(f"echo '{link.hosts_line().strip()}' >> /etc/hosts")
        site.install(location_1=link.endpoint, window_minutes=1)
        run = site.run()
    finally:
        link.close()
    assert run.returncode == 1, run.stdout + run.stderr
    site.backed_up_on_time(run)
    failure = site.failure()
    assert failure["kind"] == "deadline" and failure["cause"].startswith("still running when its window ended")
    ended = datetime.fromisoformat(site.local("location", 1)["time"].replace("Z", "+00:00")).timestamp()
    assert ended - run.started >= 40 > SILENCE  # progressing: never given up for silence
    assert run.took < 60  # done within the window: systemd's TimeoutStartSec never had to end it
    site.no_restic_left()
    assert "still running when its window ended" in site.alarmed("location-1").failed
    site.nothing_lost()


def test_a_location_that_hangs_in_the_middle_of_a_drill_fails_it_with_its_cause(site):
    """The batched drill (issue 24) meets a location that stops answering in the middle of a batch's
    download: the drill of location 1 is given up within the silence, as `silent` with its cause, no
    restic outlives it, its scratch space is empty, and the alarm's metric reaches 1 at once."""
    from tests.rude_network import ShapedLocation

    new_data = f"{site.host.mount_point('operational')}/attachments/2026/12"
    assert site.host.run(f"mkdir -p {new_data} && head -c 12000000 /dev/urandom > {new_data}/scans.zip").returncode == 0
    assert site.run().returncode == 0  # in both locations
    scratch = str(site.host.root / "drill-scratch")
    link = ShapedLocation(int(site.world.endpoint.rsplit(":", 1)[1]), rate=None)
    try:
        site.host.run(f"echo '{link.hosts_line().strip()}' >> /etc/hosts")
        site.install(location_1=link.endpoint, silence_seconds=HANG_SILENCE, drill_scratch=scratch)
        link.hold_after_download(2 << 20)  # a data pack's download: the listing and the index are smaller
        drill = site.run("/usr/local/sbin/daktela-restore-drill --location 1")
        held = link.holding.is_set()
    finally:
        link.close()
    assert held, "the location never hung: the drill downloaded less than the threshold"
    assert drill.returncode == 1, drill.stdout + drill.stderr
    assert "location-1: DRILL FAILED: " in drill.stderr and f"no progress for {HANG_SILENCE} s" in drill.stderr
    result = site.local("drill", 1)
    assert result["result"] == "failed" and result["error_kind"] == "silent", result
    assert one_line(result["error"])
    # given up within the silence and the upload of its result, not at the drill's 12-hour deadline
    assert drill.took < HANG_SILENCE + 2 * site.job.share_max_seconds + 60, drill.took
    site.no_restic_left()
    assert site.host.run(f"ls -A {scratch}").stdout == ""
    findings, published = site.checker()
    assert findings["drill-location-1"].status == "failed" and f"no progress for {HANG_SILENCE} s" in \
        findings["drill-location-1"].failed
    assert published[("RestoreDrillFailed", "drill-location-1")] == 1.0
    site.nothing_lost()


def test_a_drill_with_a_denied_key_fails_as_denied_and_the_checker_still_hears_of_it(site):
    """The batched drill with a key the location refuses (a rotated or revoked host key): `denied`
    with S3's answer, nothing restored, and since no location takes its result, the checker alarms
    when the drill's age passes its limit, never a quiet "fresh"."""
    scratch = str(site.host.root / "drill-scratch")
    site.install(secret="not-the-plans-secret", drill_scratch=scratch)
    drill = site.run("/usr/local/sbin/daktela-restore-drill --location 1")
    assert drill.returncode == 1, drill.stdout + drill.stderr
    result = site.local("drill", 1)
    assert result["result"] == "failed" and result["error_kind"] == "denied", result
    assert one_line(result["error"]) and ("Access Denied" in result["error"] or "403" in result["error"]), result
    assert "could not be recorded" in drill.stderr or "could not be stored" in drill.stderr  # the key is refused there too
    assert site.host.run(f"ls -A {scratch}").stdout == ""
    site.no_restic_left()
    never = datetime.now(timezone.utc) + timedelta(days=9)  # past restore_drill.alarm_after_days with no success
    findings, published = site.checker(never)
    assert not findings["drill-location-1"].ok and published[("RestoreDrillAgeHours", "drill-location-1")] > 24 * 8
    site.nothing_lost()


# -- the host cannot reach the cloud at all: silence alarms ------------------------------------------

def _silent_until_due(site, run, cause_fragment: str, kind: str) -> None:
    """Nothing reached the cloud: the host's own results say why, the run fails, and the cloud
    alarms when the next report was due."""
    assert run.returncode == 1
    assert "could not be recorded in any location" in run.stderr
    for number in (1, 2):
        failure = site.failure(number)
        assert failure["kind"] == kind and cause_fragment in failure["cause"], failure
    recorded = {r["location"]: r for r in _cloud_results(site)}
    due = datetime.fromisoformat(recorded[1]["next_due"].replace("Z", "+00:00"))
    findings, _ = site.checker(due - timedelta(minutes=1))
    assert findings["location-1"].failed is None  # the last result the cloud has, from the run before
    findings, published = site.checker(due + timedelta(minutes=1))
    for location in ("location-1", "location-2"):
        assert findings[location].failed.startswith("silent: no run has reported since")
        assert published[("BackupLastRunFailed", location)] == 1.0
    site.nothing_lost()


def _cloud_results(site) -> list[dict]:
    s3 = site.locations.admin_s3(PRIMARY)
    return [json.loads(s3.get_object(Bucket=site.locations.buckets[0], Key=f"status/{INSTALLATION}/location-{n}.json")
                       ["Body"].read()) for n in (1, 2)]


def test_wrong_credentials(site):
    site.install(secret="not-the-plans-secret")
    # S3 answers restic's first request, a HEAD, with a bare 403: "Access Denied." is all it can say
    _silent_until_due(site, site.run(), "Access Denied", "denied")


def test_a_clock_off_by_more_than_15_minutes(site):
    site.world.state.clock_offset = timedelta(minutes=20)  # S3's clock against the host's
    try:
        run = site.run()
    finally:
        site.world.state.clock_offset = timedelta(0)  # the checker runs in AWS, on time
    _silent_until_due(site, run, "this host's clock is 20 minutes behind the location's", "skew")


def test_a_result_no_location_takes_fails_the_run(site):
    """Issue 23.4: with every status upload refused, the unit succeeded and the immediate "failed"
    path was lost (`share_result ... || true`)."""
    for bucket in site.locations.buckets:  # a bucket policy that refuses the results, say a mistaken edit
        known = site.world.state.buckets[bucket]
        known.policy = {"Version": "2012-10-17", "Statement": [*(known.policy or {}).get("Statement", []), {
            "Sid": "NoResults", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/status/*"}]}
    run = site.run()
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the result of location 1 could not be recorded in any location" in run.stderr
    assert site.local("location", 1)["result"] == site.local("location", 2)["result"] == "success"
    due = datetime.fromisoformat(_cloud_results(site)[0]["next_due"].replace("Z", "+00:00"))
    findings, published = site.checker(due + timedelta(minutes=1))
    assert findings["location-1"].failed.startswith("silent:") and published[("BackupLastRunFailed", "location-1")] == 1
    site.nothing_lost()


# -- the host itself ----------------------------------------------------------------------------------

def test_a_full_scratch_disk(site):
    """restic writes its packs to temporary files first: with no room for them both locations fail,
    saying so, and the results still reach the cloud."""
    # the host's temporary directory, a tiny tmpfs in the host's own mount namespace, and a day's changes
    assert site.host.run("mkdir -p /run/tiny && mount -t tmpfs -o size=64k tmpfs /run/tiny").returncode == 0
    changed = f"{site.host.mount_point('operational')}/attachments/2026/12"
    assert site.host.run(f"mkdir -p {changed} && head -c 2000000 /dev/urandom > {changed}/today.pdf").returncode == 0
    run = site.run("TMPDIR=/run/tiny /usr/local/sbin/daktela-backup")
    assert run.returncode == 1
    for number in (1, 2):
        failure = site.failure(number)
        assert failure["kind"] == "space" and "no space left on device" in failure["cause"], failure
    findings, published = site.checker()
    for location in ("location-1", "location-2"):
        assert "no space left on device" in findings[location].failed
        assert published[("BackupLastRunFailed", location)] == 1.0
    site.nothing_lost()


def test_the_dump_failing(site):
    stub = "#!/bin/sh\necho 'mariadb-dump: Got error: 2002: \"Can not connect to server\"' >&2\nexit 2\n"
    site.host.run(f"cat > /usr/local/sbin/mariadb-dump <<'STUB'\n{stub}STUB")
    run = site.run()
    assert run.returncode == 1
    for number in (1, 2):
        result = site.local("location", number)
        assert result["result"] == "failed" and result["snapshot"]  # backed up, with the previous dump
        assert one_line(result["error"]) and "Can not connect to server" in result["error"]
    findings, published = site.checker()
    assert "the database dump failed (mariadb-dump: Got error: 2002" in findings["location-1"].failed
    assert published[("BackupLastRunFailed", "location-2")] == 1.0
    site.nothing_lost()


# -- the repository is damaged: failed until a repair is recorded ---------------------------------------

REPAIR_STEP = re.compile(r"<!-- repair-step: (\S+) -->\n```sh\n(.*?)```", re.S)
OPERATOR_ACTIONS = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetBucketLocation"]


def repair_steps() -> dict[str, str]:
    return dict(REPAIR_STEP.findall((REPO / "docs" / "restore.md").read_text()))


def test_the_repair_names_its_steps_in_order():
    assert list(repair_steps()) == ["variables", "find-damage", "remove-damaged-packs", "back-up-again",
                                    "forget-broken-snapshots", "record-repair"]


def repair_as_documented(site) -> None:
    """docs/restore.md, "Repairing a location", step by step on the host, as root, with an operator's
    credentials that may delete (the host's key may not)."""
    operator = site.world.user("operator", [json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": OPERATOR_ACTIONS,
         "Resource": [f"arn:aws:s3:::{b}{suffix}" for b in site.locations.buckets for suffix in ("", "/*")]}]})])
    # awscli 2.9 has no AWS_ENDPOINT_URL: only the endpoint is added, on the host's private /usr/local
    shim = "#!/bin/sh\nexec /usr/bin/aws --endpoint-url \"$DAKTELA_TEST_ENDPOINT\" \"$@\"\n"
    assert site.host.run(f"cat > /usr/local/bin/aws <<'SHIM'\n{shim}SHIM\nchmod 755 /usr/local/bin/aws").returncode == 0
    steps = repair_steps()
    documented = dict(re.findall(r"^(\w+)=(\S+)", steps["variables"], re.M))
    variables = {**documented, "LOCATION": "1", "BUCKET": site.locations.buckets[0], "REGION": PRIMARY,
                 "INSTALLATION": INSTALLATION, "ENDPOINT": site.world.endpoint}
    assert set(variables) == set(documented)
    env = {"AWS_ACCESS_KEY_ID": operator.access_key_id, "AWS_SECRET_ACCESS_KEY": operator.secret_access_key,
           "DAKTELA_TEST_ENDPOINT": site.world.endpoint, "AWS_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt"}
    # one shell, as the operator's: what a step sets, the next one uses
    script = "".join(f"{key}={shlex.quote(value)}\n" for key, value in variables.items())
    script += "".join(f"echo '@@ step {name}'\n{steps[name]}" for name in list(steps)[1:])
    ran = site.host.run(f"bash -euc {shlex.quote(script)}", env=env)
    site.host.run("rm -f /usr/local/bin/aws")
    reached = re.findall(r"^@@ step (\S+)$", ran.stdout, re.M)
    assert ran.returncode == 0, f"repair step {reached[-1] if reached else '?'}: {ran.stdout[-3000:]}{ran.stderr[-3000:]}"
    assert reached == list(steps)[1:]


def data_packs(site, number: int) -> dict[str, int]:
    bucket, region = site.locations.buckets[number - 1], (PRIMARY, SECONDARY)[number - 1]
    listed = site.locations.admin_s3(region).list_objects_v2(Bucket=bucket, Prefix=f"restic/{INSTALLATION}/data/")
    return {item["Key"]: item["Size"] for item in listed.get("Contents", [])}


def damaged_for(site, findings: dict) -> None:
    for technology in ("location-1", "drill-location-1", "check-location-1"):
        assert findings[technology].status == "failed", findings[technology]
        assert findings[technology].failed.startswith("repository damaged since")
        assert one_line(findings[technology].failed)


def test_a_corrupted_pack_under_a_newer_snapshot_stays_failed_until_repaired_as_documented(site):
    """Issue 23.2: one flipped byte in a pack of location 1 failed one drill, the next backup's
    snapshot did not use the pack, and drill and status went green while the older snapshots could
    no longer be restored; the periodic check read 10% and called the location healthy."""
    site.install(verify_cycle_days=1, drill_scratch=str(site.host.root / "drill-scratch"))
    first_packs = data_packs(site, 1)
    # a day of changes: every file rewritten and a new dump, so the next snapshot uses none of those packs
    operational = site.host.mount_point("operational")
    rewritten = site.host.run(
        f"cd {operational} && for f in $(find application attachments database -type f); do "
        'head -c "$(stat -c %s "$f")" /dev/urandom > "$f.new" && mv "$f.new" "$f"; done')
    assert rewritten.returncode == 0, rewritten.stderr
    stub = "#!/bin/sh\necho \"-- dump of daktela at $(date +%s%N)\"\necho 'CREATE TABLE calls (id INT);'\n"
    site.host.run(f"cat > /usr/local/sbin/mariadb-dump <<'STUB'\n{stub}STUB")
    assert site.run().returncode == 0
    damaged = max(first_packs, key=first_packs.get)
    s3 = site.locations.admin_s3(PRIMARY)
    body = bytearray(s3.get_object(Bucket=site.locations.buckets[0], Key=damaged)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=site.locations.buckets[0], Key=damaged, Body=bytes(body))

    drill = site.run("/usr/local/sbin/daktela-restore-drill --location 1")
    assert drill.returncode == 0, drill.stderr  # the newest snapshot restores: this is what turned green
    check = site.run("/usr/local/sbin/daktela-backup-check --location 1")
    assert check.returncode == 1
    assert f"location-1: CHECK FAILED: location-1 (check 1/1) failed: repository contains errors: Pack ID does not " \
           f"match, want {damaged.rsplit('/', 1)[-1]}" in check.stderr
    result = site.local("check", 1)
    assert result["error_kind"] == "damage" and one_line(result["last_damage"]["cause"])
    findings, published = site.checker()
    damaged_for(site, findings)
    assert findings["location-2"].status == "fresh" and findings["check-location-2"].status == "first check due"
    assert published[("BackupLastRunFailed", "location-1")] == published[("RepositoryCheckFailed", "check-location-1")] \
        == published[("RestoreDrillFailed", "drill-location-1")] == 1.0

    # newer snapshots and drills succeed; the location stays failed
    assert site.run().returncode == 0
    assert site.run("/usr/local/sbin/daktela-restore-drill --location 1").returncode == 0
    damaged_for(site, site.checker()[0])

    kept = site.snapshots()
    repair_as_documented(site)
    findings, _ = site.checker()
    for technology in ("location-1", "drill-location-1", "check-location-1", "location-2"):
        assert findings[technology].ok, findings[technology]
    repaired = site.local("check", 1)
    assert repaired["part"] == "all" and repaired["last_repair"]["note"].startswith("damaged packs removed")
    now = site.snapshots()
    assert kept[2] <= now[2]  # location 2 untouched
    assert len(kept[1] - now[1]) == 1  # only the first snapshot, whose data was in the damaged pack, forgotten
    assert damaged not in data_packs(site, 1)


def test_a_deleted_index_is_damage_until_the_index_is_rebuilt_as_documented(site):
    site.install(verify_cycle_days=1)
    s3 = site.locations.admin_s3(PRIMARY)
    index = s3.list_objects_v2(Bucket=site.locations.buckets[0], Prefix=f"restic/{INSTALLATION}/index/")["Contents"]
    for item in index:
        s3.delete_object(Bucket=site.locations.buckets[0], Key=item["Key"])  # a delete marker: the versions stay
    site.run()  # restic finds no index: it uploads everything again, under a new index
    check = site.run("/usr/local/sbin/daktela-backup-check --location 1")
    assert check.returncode == 1 and "not found in" in check.stderr
    assert site.local("check", 1)["error_kind"] == "damage"
    findings, published = site.checker()
    assert findings["location-1"].failed.startswith("repository damaged since")
    assert published[("RepositoryCheckFailed", "check-location-1")] == 1.0

    repair_as_documented(site)
    findings, _ = site.checker()
    assert findings["location-1"].ok and findings["check-location-1"].ok
    site.nothing_lost()  # rebuilding the index forgets nothing


# -- KMS refuses (cloud: the buckets are SSE-KMS) ------------------------------------------------------

def test_kms_denied(world, instance, cloud_plan, monkeypatch):  # noqa: F811
    """A key policy edited to leave out the instance: the file-level backup fails saying so, the other
    technologies still back up; one that leaves out the checker: the drill results are unknown, with
    the cause, and published as failed."""
    from components.freshness import Watch, boto3_clients, check, publish
    from components.names import repository_prefix
    from components.offline import autoname
    from tests.conftest import one
    from tests.restic_repositories import seed
    from tests.test_backups_against_aws import INSTANCE_SECRET

    admins_only = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "KeyAdministrators", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:user/admin"},
         "Action": "kms:*", "Resource": "*"}]})
    seed(world.admin_client("s3", SECONDARY), instance.restic_bucket, repository_prefix("acme-cloud"), INSTANCE_SECRET)
    world.key(instance.restic_key, admins_only)
    files = {"attachments/2026/12/offer.pdf": b"%PDF" + bytes(5000)}
    backup = instance.run(instance.script("daktela-restic-backup"), files)
    assert backup.returncode != 0
    cause = backup.stderr.strip().splitlines()[-1]
    assert cause.startswith("file-level (eu-west-1): ") and "not authorized to perform: kms:Decrypt" in cause
    assert one_line(cause)
    instance.dump_stub(1 << 20)
    dump = instance.run(instance.script("daktela-db-dump"))  # the database level backs up all the same
    assert dump.returncode == 0, dump.stderr

    checker = world.user("acme-cloud-freshness", [one(cloud_plan, "aws:iam/rolePolicy:RolePolicy",
                                                      "freshness-least-privilege").inputs["policy"]])
    watch = Watch.from_json(cloud_plan.outputs["freshness_targets"].replace(
        autoname(one(cloud_plan, "aws:s3/bucket:Bucket", "restic").name), instance.restic_bucket))
    world.act_as(monkeypatch, checker)
    clients = boto3_clients(world.endpoint)
    runs = Watch(watch.installation_id, watch.namespace, watch.metrics_region, watch.limit_hours,
                 tuple(t for t in watch.targets if t.technology in ("database-dump", "file-level")))
    findings = {f.technology: f for f in check(runs, clients)}
    # the run's result reached the checker at once, with its cause; the dump is fresh
    assert findings["file-level"].status == "failed" and "not authorized to perform: kms:Decrypt" in findings[
        "file-level"].failed and one_line(findings["file-level"].failed)
    assert findings["database-dump"].status == "fresh"
    publish(runs, list(findings.values()), clients)

    world.admin_client("s3", PRIMARY).put_object(
        Bucket=instance.dump_bucket, Key="status/acme-cloud/drill-database-dump.json",
        Body=json.dumps({"result": "success", "time": "2026-12-01T04:10:00Z", "last_success": "2026-12-01T04:10:00Z"}))
    world.key(instance.dump_key, json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "AdministratorsAndTheInstance", "Effect": "Allow", "Principal": {"AWS": [
            "arn:aws:iam::123456789012:user/admin", f"arn:aws:iam::123456789012:user/{instance.key.user}"]},
         "Action": "kms:*", "Resource": "*"}]}))
    drills = Watch(watch.installation_id, watch.namespace, watch.metrics_region, watch.limit_hours,
                   tuple(t for t in watch.targets if t.kind == "drill"))
    findings = {f.technology: f for f in check(drills, clients)}
    unknown = findings["drill-database-dump"]
    assert unknown.status == "unknown" and one_line(unknown.error)
    assert unknown.error.startswith(f"s3://{instance.dump_bucket}/status/acme-cloud/drill-database-dump.json "
                                    "(eu-central-1) cannot be read") and "AccessDenied" in unknown.error
    assert findings["drill-file-level"].status == "missing"  # never run: listed, not guessed from a 403
    publish(drills, list(findings.values()), clients)
    for metric, technology in (("RestoreDrillFailed", "drill-database-dump"), ("BackupLastRunFailed", "file-level"),
                               ("BackupLastRunFailed", "database-dump")):
        [point] = world.admin_client("cloudwatch", PRIMARY).get_metric_statistics(
            Namespace="Daktela/acme-cloud", MetricName=metric, Statistics=["Maximum"], Period=60,
            Dimensions=[{"Name": "Installation", "Value": "acme-cloud"}, {"Name": "Technology", "Value": technology}],
            StartTime=datetime.now(timezone.utc) - timedelta(minutes=5),
            EndTime=datetime.now(timezone.utc) + timedelta(minutes=5))["Datapoints"]
        assert point["Maximum"] == (0.0 if technology == "database-dump" else 1.0), (metric, technology)
