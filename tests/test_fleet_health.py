"""The fleet's backup health (components/health.py, components/health_page.py,
scripts/fleet_health.py) against a moto server holding 30 days of what the checkers publish, for a
fleet with a fresh, a stale, a failed, a silent and a never-drilled installation; the page opened
in headless Chromium (Debian's), as a person sees it, with a screenshot kept."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import pytest

from components.freshness import ATTACHMENTS_METRIC, METRICS, Watch, boto3_clients
from components.health import MAX_QUERIES, health, series_of
from tests.conftest import REPO, example_installation, plan_of

QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]*$")
NOW = datetime.now(timezone.utc).replace(minute=40, second=0, microsecond=0)


@lru_cache(maxsize=None)
def example_watch(hosting: str) -> str:
    return plan_of(example_installation(hosting)).outputs["freshness_targets"]


def watch_for(hosting: str, installation_id: str) -> Watch:
    document = json.loads(example_watch(hosting))
    document.update(installation_id=installation_id, namespace=f"Daktela/{installation_id}")
    return Watch.from_json(json.dumps(document))


def published(watch: Watch, scenario: str) -> list[dict]:
    """30 days of what this installation's checker would have published, hour by hour."""
    data = []
    for hours_ago in range(30 * 24):
        when = NOW - timedelta(hours=hours_ago)
        if scenario == "silent" and hours_ago < 5:
            continue  # the checker stopped five hours ago
        if scenario == "fresh" and 240 <= hours_ago < 243:
            continue  # a three-hour gap ten days ago: on the strip, gone from the cell
        for target in watch.targets:
            kind = "drill" if target.kind == "restore-test" else target.kind
            if scenario == "never-drilled" and kind == "drill":
                continue
            # ages grow by the hour and fall back at each new backup (twice a day) or drill (weekly)
            age = ((-hours_ago) % 12) + 1.0 if kind == "backup" else ((-hours_ago) % 168) + 1.0
            failed = 0.0
            if scenario == "stale" and target.technology == "location-2" and hours_ago < 40:
                age = 70.0 - hours_ago  # no new backup for 70 hours: stale for the last 42
            if scenario == "failed" and target.technology == "database-dump" and hours_ago < 6:
                failed = 1.0
            dimensions = [{"Name": "Installation", "Value": watch.installation_id},
                          {"Name": "Technology", "Value": target.technology}]
            age_metric, failed_metric = METRICS[kind]
            data.append({"MetricName": age_metric, "Dimensions": dimensions, "Timestamp": when, "Value": age})
            if target.status_sources or kind in ("drill", "check"):
                data.append({"MetricName": failed_metric, "Dimensions": dimensions, "Timestamp": when, "Value": failed})
        data.append({"MetricName": ATTACHMENTS_METRIC, "Timestamp": when, "Value": 130.0 - hours_ago / 100,
                     "Dimensions": [{"Name": "Installation", "Value": watch.installation_id}]})
    return data


class StrictCloudWatch:
    """The moto client, checked the way CloudWatch checks a GetMetricData request (at most 500
    queries, ids unique and well formed, a period of whole minutes, a time range), and answering in
    pages of at most `page` datapoints with a NextToken, as CloudWatch does past 100,800 (moto never
    pages). A smaller page is stricter: it makes the reader follow the token."""

    def __init__(self, client, calls: list[int], page: int = 100_800):
        self.client, self.calls, self.page = client, calls, page
        self.pending: dict[str, list[tuple[str, object, float]]] = {}

    def get_metric_data(self, **request):
        queries = request["MetricDataQueries"]
        assert 1 <= len(queries) <= MAX_QUERIES, len(queries)
        ids = [q["Id"] for q in queries]
        assert len(set(ids)) == len(ids) and all(QUERY_ID.match(i) for i in ids)
        assert all(q["MetricStat"]["Period"] % 60 == 0 for q in queries)
        assert request["StartTime"] < request["EndTime"]
        self.calls.append(len(queries))
        token = request.pop("NextToken", None)
        if token is None:
            answer = self.client.get_metric_data(**request)
            points = [(r["Id"], t, v) for r in answer["MetricDataResults"] for t, v in zip(r["Timestamps"], r["Values"])]
            empty = [r["Id"] for r in answer["MetricDataResults"] if not r["Timestamps"]]
        else:
            points, empty = self.pending.pop(token), []
        page, rest = points[:self.page], points[self.page:]
        results: dict[str, dict] = {i: {"Id": i, "Timestamps": [], "Values": [], "StatusCode": "Complete"} for i in empty}
        for query_id, stamp, value in page:
            result = results.setdefault(query_id, {"Id": query_id, "Timestamps": [], "Values": [], "StatusCode": "Complete"})
            result["Timestamps"].append(stamp)
            result["Values"].append(value)
        answer = {"MetricDataResults": list(results.values())}
        if rest:
            token = f"t{len(self.calls)}"
            self.pending[token] = rest
            answer["NextToken"] = token
        return answer


def strict_clients(endpoint: str, calls: list[int], page: int = 100_800):
    clients = boto3_clients(endpoint)
    return lambda service, region: StrictCloudWatch(clients(service, region), calls, page) \
        if service == "cloudwatch" else clients(service, region)


SCENARIOS = {"fresh": "cloud", "stale": "on-premise", "failed": "cloud", "silent": "cloud", "never-drilled": "on-premise"}


@pytest.fixture(scope="module")
def fleet(moto_endpoint) -> dict[str, Watch]:
    import boto3

    run = uuid.uuid4().hex[:6]
    watches = {scenario: watch_for(hosting, f"{scenario}-{run}") for scenario, hosting in SCENARIOS.items()}
    cloudwatch = boto3.client("cloudwatch", region_name="eu-central-1", endpoint_url=moto_endpoint,
                              aws_access_key_id="testing", aws_secret_access_key="testing")
    for scenario, watch in watches.items():
        data = published(watch, scenario)
        for first in range(0, len(data), 1000):  # PutMetricData takes 1,000 values a request
            cloudwatch.put_metric_data(Namespace=watch.namespace, MetricData=data[first:first + 1000])
    return watches


def test_each_cell_says_its_state_and_why_and_the_worst_installation_is_first(fleet, aws_env, moto_endpoint):
    calls: list[int] = []
    rows, requests = health(fleet.values(), strict_clients(moto_endpoint, calls), NOW, {})
    by_id = {row.installation.rsplit("-", 1)[0]: row for row in rows}
    cells = {name: {c.technology: c for c in row.cells} for name, row in by_id.items()}
    assert [row.installation.rsplit("-", 1)[0] for row in rows][0] == "failed"
    assert rows[-1].installation.startswith("fresh-") and by_id["fresh"].kept
    assert all(c.state == "fresh" for c in by_id["fresh"].cells)
    assert cells["fresh"]["file-level"].hours.count("unknown") == 3  # the gap ten days ago, on the strip only
    stale = cells["stale"]["location-2"]
    assert (stale.state, stale.cause, stale.age_hours) == ("stale", "70 h old, limit 28 h", 70.0)
    assert stale.hours[-40:] == ["stale"] * 40 and stale.hours[-41] == "fresh"
    assert cells["stale"]["location-1"].state == "fresh"
    failed = cells["failed"]["database-dump"]
    assert failed.state == "failed" and "BackupLastRunFailed" in failed.cause
    assert {c.state for c in by_id["silent"].cells} == {"unknown"}
    assert all("silent since" in c.cause for c in by_id["silent"].cells)
    drill = cells["never-drilled"]["drill-location-1"]
    assert drill.state == "unknown" and drill.cause.startswith("never published in 30 days")
    assert not any(row.kept for name, row in by_id.items() if name != "fresh")
    assert by_id["stale"].storage_gb == pytest.approx(130.0, abs=0.1)
    # every series in one request: never a call per metric
    series = sum(len(series_of(w)) for w in fleet.values())
    assert requests == len(calls) == 1 and calls == [series]


def test_an_answer_in_pages_gives_the_same_view(fleet, aws_env, moto_endpoint):
    whole, _ = health(fleet.values(), strict_clients(moto_endpoint, []), NOW, {})
    calls: list[int] = []
    paged, requests = health(fleet.values(), strict_clients(moto_endpoint, calls, page=10_000), NOW, {})
    assert requests == len(calls) > 3  # every NextToken followed
    assert [(r.installation, [(c.state, c.cause, c.hours) for c in r.cells], r.storage_gb) for r in paged] == \
        [(r.installation, [(c.state, c.cause, c.hours) for c in r.cells], r.storage_gb) for r in whole]


def test_a_fleet_of_300_installations_takes_a_request_per_500_series(fleet, aws_env, moto_endpoint):
    many = [watch_for("cloud" if n % 2 else "on-premise", f"many-{n:03}") for n in range(300)]
    calls: list[int] = []
    rows, requests = health(many, strict_clients(moto_endpoint, calls), NOW)
    series = sum(len(series_of(w)) for w in many)
    assert series > 3000 and requests == len(calls) == -(-series // MAX_QUERIES)
    assert len(rows) == 300 and all(r.worst == "unknown" for r in rows)  # nothing published: unknown, never fresh


def state_dir(fleet: dict[str, Watch], directory: Path) -> Path:
    directory.mkdir(exist_ok=True)
    for watch in fleet.values():
        outputs = {"freshness_targets": json.dumps({**json.loads(example_watch(
            "cloud" if watch.targets[0].technology == "block-level" else "on-premise")),
            "installation_id": watch.installation_id, "namespace": watch.namespace}),
            "storage": {"included_gb": 100}}
        (directory / f"{watch.installation_id}.json").write_text(json.dumps(outputs))
    (directory / "broken.json").write_text("{not json")
    return directory


def test_the_command_gives_a_table_json_and_the_page_and_says_the_promise_is_broken(fleet, aws_env, moto_endpoint,
                                                                                    tmp_path):
    states = state_dir(fleet, tmp_path / "states")
    script = [sys.executable, str(REPO / "scripts" / "fleet_health.py"), "--state-dir", str(states),
              "--endpoint-url", moto_endpoint]
    table = subprocess.run([*script, "--html", str(tmp_path / "health.html")], capture_output=True, text=True,
                           timeout=300, env=aws_env)
    assert table.returncode == 1, table.stderr
    lines = table.stdout.splitlines()
    assert lines[1].startswith("broken ") and "broken.json cannot be read" in lines[1]  # unknown is failure
    assert lines[2].startswith("failed-") and "BROKEN" in lines[2] and "database-dump failed" in lines[2]
    assert "storage 130 GB of 100 included" in table.stdout and "1 of 6 installations keep every promise" in table.stdout
    as_json = json.loads(subprocess.run([*script, "--json"], capture_output=True, text=True, timeout=300,
                                        env=aws_env).stdout)
    assert as_json["kept"] is False and as_json["requests"] == 1 and len(as_json["installations"]) == 6
    page = (tmp_path / "health.html").read_text()
    assert "http://" not in page and "https://" not in page and "<script" not in page  # nothing fetched, nothing run
    empty = subprocess.run([*script[:2], "--state-dir", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert empty.returncode == 2 and "no <stack>.json" in empty.stderr


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is needed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def in_browser(html: str, directory: Path, screenshot_name: str, size: str = "1400,1200") -> str:
    """The page as Debian's headless Chromium renders it (its DOM after layout); a screenshot of it
    is kept in $TEST_ARTIFACTS when CI sets it (docs/img holds the one the docs show)."""
    browser = chromium()
    page = directory / f"{Path(screenshot_name).stem}.html"
    page.write_text(html)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             f"--user-data-dir={directory / 'profile'}", f"--window-size={size}"]
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    screenshot = directory / screenshot_name
    shot = subprocess.run([browser, *flags, f"--screenshot={screenshot}", page.as_uri()], capture_output=True,
                          text=True, timeout=120)
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    artifacts = os.environ.get("TEST_ARTIFACTS")  # CI keeps what it finds there
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(artifacts) / screenshot_name)
    return dom.stdout


def test_the_page_in_a_real_browser_shows_the_worst_first_and_why_a_cell_is_stale(fleet, aws_env, moto_endpoint,
                                                                                    tmp_path):
    from components.health_page import render_page

    rows, _ = health(fleet.values(), boto3_clients(moto_endpoint), NOW, {w.installation_id: 100 for w in fleet.values()})
    rendered = in_browser(render_page(rows, NOW), tmp_path, "fleet-health.png")
    order = re.findall(r'<tr class="installation" data-installation="([^"]+)" data-worst="([^"]+)"', rendered)
    assert [worst for _, worst in order] == ["failed", "unknown", "unknown", "stale", "fresh"]
    stale_cell = re.search(r'data-technology="location-2" data-state="stale">(.*?)</div>\s*</div>', rendered, re.S)
    assert stale_cell and ">stale<" in stale_cell.group(1) and re.search(r"\d+ h old, limit 28 h", stale_cell.group(1))
    assert re.search(r'title="[^"]+ to [^"]+: stale: \d+ h old, limit 28 h"', stale_cell.group(1))  # on hover
    assert "1 of 5 keep every promise" in rendered


def test_the_months_evidence_counts_hours_within_gaps_failed_runs_and_drills(fleet, aws_env, moto_endpoint, tmp_path):
    from components.evidence import evidence_between, render_month

    hour = NOW.replace(minute=0)
    start, end = hour - timedelta(hours=72), hour + timedelta(hours=1)  # 73 whole hours, the newest included
    months, requests = evidence_between(fleet.values(), strict_clients(moto_endpoint, []), start, end, "last 73 hours")
    evidence = {m.installation.rsplit("-", 1)[0]: {c.technology: c for c in m.cells} for m in months}
    kept = {m.installation.rsplit("-", 1)[0]: m.kept for m in months}
    assert kept == {"fresh": True, "stale": False, "failed": False, "silent": False, "never-drilled": False}
    assert requests == 1
    stale = evidence["stale"]["location-2"]
    assert (stale.hours, stale.within_hours, stale.longest_gap.hours) == (73, 33, 40)
    assert (stale.longest_gap.start, stale.longest_gap.end) == (hour - timedelta(hours=39), end)
    dump = evidence["failed"]["database-dump"]
    assert (dump.failed_runs, dump.failed_hours, dump.within_hours) == (1, 6, 67)
    assert evidence["silent"]["file-level"].unknown_hours == 5 and evidence["silent"]["file-level"].within_hours == 68
    assert evidence["never-drilled"]["drill-location-1"].within_hours == 0  # never measured: never within
    assert evidence["fresh"]["drill-database-dump"].drills_succeeded == 1 and evidence["fresh"]["file-level"].within_share == 1.0
    page = render_month(next(m for m in months if m.installation.startswith("stale-")))
    assert "Not every promise was kept" in page and "45.2 % (33 of 73)" in page and "40 h, " in page
    assert "http" not in page and "<script" not in page


def test_the_evidence_command_writes_a_page_per_installation(fleet, aws_env, moto_endpoint, tmp_path):
    states = state_dir(fleet, tmp_path / "states")
    out = tmp_path / "evidence"
    out.mkdir()
    # this month, unless it is younger than six hours: then the last one (the data span 30 days)
    month = f"{NOW:%Y-%m}" if NOW.day > 1 or NOW.hour >= 6 else f"{NOW - timedelta(hours=7):%Y-%m}"
    command = [sys.executable, str(REPO / "scripts" / "evidence.py"), "--month", month, "--state-dir", str(states),
               "--out-dir", str(out), "--endpoint-url", moto_endpoint]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, env=aws_env)
    assert run.returncode == 1, run.stderr  # the stale, failed, silent and never-drilled ones: not kept
    assert "broken.json cannot be read" in run.stderr
    pages = sorted(p.name for p in out.glob("*.html"))
    assert len(pages) == 5 and all(p.endswith(f"-{month}.html") for p in pages)
    assert "(month not over)" in run.stdout
    fresh = next(out.glob("fresh-*.html")).read_text()
    assert "the month is not over" in fresh
    later = subprocess.run([*command[:3], "2999-01", *command[4:]], capture_output=True, text=True, env=aws_env)
    assert later.returncode == 2 and "has not begun" in later.stderr


def test_each_drill_shows_its_last_result_and_the_restore_time_as_the_catalogue_counts_it(aws_env, moto_endpoint):
    import boto3

    run = uuid.uuid4().hex[:6]
    bucket = f"health-drills-{run}"
    s3 = boto3.client("s3", region_name="eu-central-1", endpoint_url=moto_endpoint)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    document = json.loads(example_watch("on-premise"))
    document.update(installation_id=f"drilled-{run}", namespace=f"Daktela/drilled-{run}")
    for target in document["targets"]:
        target["status_sources"] = [["eu-central-1", bucket, f"status/{run}/{target['technology']}.json"]]
    watch = Watch.from_json(json.dumps(document))
    s3.put_object(Bucket=bucket, Key=f"status/{run}/drill-location-1.json", Body=json.dumps({
        "result": "success", "time": "2026-11-28T04:12:00Z", "last_success": "2026-11-28T04:12:00Z",
        "last_success_seconds": {"transfer": 812.4, "rest": 95.0}}).encode())
    s3.put_object(Bucket=bucket, Key=f"status/{run}/drill-location-2.json", Body=json.dumps({
        "result": "failed", "time": "2026-11-28T05:02:00Z", "error": "ciphertext verification failed",
        "last_success": None}).encode())
    rows, _ = health([watch], boto3_clients(moto_endpoint), NOW, drills=True)
    drills = {c.technology: c.last_drill for c in rows[0].cells if c.kind == "drill"}
    assert drills["drill-location-1"] == ("last drill 2026-11-28T04:12:00Z: success; last success "
                                          "2026-11-28T04:12:00Z: transfer 812.4 s (connectivity, not counted) + 95.0 s counted")
    assert drills["drill-location-2"] == ("last drill 2026-11-28T05:02:00Z: failed (ciphertext verification failed); "
                                          "never succeeded")
    assert all(not c.last_drill for c in rows[0].cells if c.kind != "drill")
    s3.put_object(Bucket=bucket, Key=f"status/{run}/drill-location-2.json", Body=b"{not json")
    unreadable, _ = health([watch], boto3_clients(moto_endpoint), NOW, drills=True)
    assert next(c for c in unreadable[0].cells if c.technology == "drill-location-2").last_drill.startswith(
        "last result unreadable: ")  # unknown is failure, never a quiet "no result"
    from components.health_page import render_page

    assert "transfer 812.4 s (connectivity, not counted) + 95.0 s counted" in render_page(rows, NOW)


def test_the_evidence_lists_the_months_connectivity_checks_and_names_a_location_it_cannot_read(
        fleet, aws_env, moto_endpoint, tmp_path):
    """Each check once though it is in both locations, only the period's, oldest first; a record
    that is not one and a location that does not exist are named with the cause (unknown is failure)."""
    import boto3

    from components.evidence import connectivity_checks, evidence_between, render_month
    from components.names import connectivity_record_key

    run = uuid.uuid4().hex[:6]
    watch = fleet["stale"]
    buckets = [f"evidence-{run}-1", f"evidence-{run}-2"]
    watch = Watch.from_json(json.dumps({**json.loads(watch.to_json()), "meter_sources": [
        ["eu-central-1", buckets[0], "storage.json"], ["eu-west-1", buckets[1], "storage.json"]]}))
    hour = NOW.replace(minute=0)
    start, end = hour - timedelta(hours=72), hour + timedelta(hours=1)

    def record(when: datetime, sufficient: bool, bucket_numbers=(0, 1)) -> None:
        stamp = f"{when:%Y-%m-%dT%H:%M:%SZ}"
        body = {"time": stamp, "sufficient": sufficient,
                "verdict": ("verdict: sufficient: a run needs about 9.0 min for both locations; the window is 120 min"
                            if sufficient else "verdict: insufficient: a location cannot be reached"),
                "locations": [{"region": "eu-central-1", "mbit_per_second": 48.3, "error": None},
                              {"region": "eu-west-1", "mbit_per_second": 31.7 if sufficient else None,
                               "error": None if sufficient else "upload of part 1 failed or timed out"}]}
        for number in bucket_numbers:
            s3s[number].put_object(Bucket=buckets[number], Key=connectivity_record_key(watch.installation_id, stamp),
                                   Body=json.dumps(body).encode())

    s3s = []
    for bucket, region in zip(buckets, ("eu-central-1", "eu-west-1")):
        s3s.append(boto3.client("s3", region_name=region, endpoint_url=moto_endpoint))
        s3s[-1].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    record(start - timedelta(minutes=1), True)  # before the period
    record(start + timedelta(hours=2, minutes=7), True)
    record(start + timedelta(hours=30), False, bucket_numbers=(1,))  # location 1 did not take it
    record(end, True)  # after it
    checks, unreadable = connectivity_checks(watch, boto3_clients(moto_endpoint), start, end)
    assert unreadable == []
    assert [(c["time"], c["sufficient"]) for c in checks] == [
        (f"{start + timedelta(hours=2, minutes=7):%Y-%m-%dT%H:%M:%SZ}", True),
        (f"{start + timedelta(hours=30):%Y-%m-%dT%H:%M:%SZ}", False)]

    months, _ = evidence_between([watch], boto3_clients(moto_endpoint), start, end, "last 73 hours")
    page = render_month(months[0])
    assert "<td>eu-central-1: 48.3 Mbit/s; eu-west-1: 31.7 Mbit/s</td>" in page
    assert "<td>eu-central-1: 48.3 Mbit/s; eu-west-1: failed (upload of part 1 failed or timed out)</td>" in page
    assert ">insufficient: a location cannot be reached<" in page and months[0].complete_evidence
    # as the customer sees it: the verdict, the stale location's gap, both checks with their verdicts
    rendered = in_browser(render_month(months[0]), tmp_path, "evidence.png", size="1100,900")
    assert re.search(r'<p class="broken" id="verdict">Not every promise was kept', rendered)
    row = re.search(r'<tr data-technology="location-2">(.*?)</tr>', rendered, re.S)
    assert row and "45.2 % (33 of 73)" in row.group(1) and "40 h, " in row.group(1)
    verdicts = re.findall(r'<td class="(kept|broken)">(sufficient|insufficient)', rendered)
    assert verdicts == [("kept", "sufficient"), ("broken", "insufficient")]

    s3s[1].put_object(Bucket=buckets[1], Key=connectivity_record_key(watch.installation_id,
                      f"{start + timedelta(hours=40):%Y-%m-%dT%H:%M:%SZ}"), Body=b"{not json")
    gone = Watch.from_json(json.dumps({**json.loads(watch.to_json()), "meter_sources": [
        ["eu-central-1", f"nowhere-{run}", "storage.json"], ["eu-west-1", buckets[1], "storage.json"]]}))
    months, _ = evidence_between([gone], boto3_clients(moto_endpoint), start, end, "last 73 hours")
    why = months[0].connectivity_unreadable
    assert len(why) == 2 and not months[0].complete_evidence
    assert why[0].startswith(f"location 1 (s3://nowhere-{run}/status/") and "NoSuchBucket" in why[0]
    assert why[1].startswith("location 2 (") and "Expecting property name" in why[1]
    assert "Could not be read: location 1 (s3://nowhere-" in render_month(months[0])

    cloud, _ = evidence_between([fleet["fresh"]], boto3_clients(moto_endpoint), start, end, "last 73 hours")
    assert cloud[0].connectivity is None and "Connectivity checks" not in render_month(cloud[0])
    never, _ = evidence_between([dataclasses.replace(watch, installation_id=f"never-{run}")],
                                boto3_clients(moto_endpoint), start, end, "last 73 hours")
    assert "No connectivity check was recorded in this period." in render_month(never[0])


def test_each_hours_state_and_its_cause_on_hover_agree(fleet, aws_env, moto_endpoint):
    """The strip's states are worked out without their words (2.5 million hours for 300
    installations); the words, made when the page asks, say the same state with its reason."""
    from components.health import hour_state, raw_timestamp_clients

    rows, _ = health(fleet.values(), raw_timestamp_clients(moto_endpoint), NOW, {})
    same, _ = health(fleet.values(), boto3_clients(moto_endpoint), NOW, {})  # botocore's datetimes
    assert [[c.hours for c in r.cells] for r in rows] == [[c.hours for c in r.cells] for r in same]
    checked = 0
    for row in rows:
        for cell in row.cells:
            for index in range(0, len(cell.hours), 37):
                failed = 1.0 if cell.hours[index] == "failed" else None
                state, cause = hour_state(cell.ages[index], failed, cell.limit_hours, cell.failed_metric)
                assert state == cell.hours[index]
                assert cell.cause_at(index) == \
                    f"{cell.first_hour + timedelta(hours=index):%Y-%m-%d %H:00} UTC: {state}: {cause}"
                checked += 1
    assert checked > 500 and {"fresh", "stale", "failed", "unknown"} <= {h for r in rows for c in r.cells for h in c.hours}
