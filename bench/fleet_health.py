#!/usr/bin/env python3
"""The fleet's health view for 300 installations: its time and GetMetricData requests, against
one GetMetricData request per metric (the peer), side by side against the same moto server.

    .venv/bin/python bench/fleet_health.py [--installations 300] [--days-published 3] [--repeats 3]

The installations are the two example stacks' checkers, alternating, each with its own id; every
series gets `--days-published` days of hourly points (30 days for 300 installations would be 3.2
million points for moto to hold). Both contenders read the same 30-day window: ours through
components/health.py (500 series a request), the peer with one request per series, each answer
read whole. moto is on loopback, so a request costs milliseconds where CloudWatch costs tens: the
ratio of requests is the figure that carries over, the ratio of times is this machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from common import ROOT, median, save

from components.freshness import ATTACHMENTS_METRIC, METRICS, Watch
from components.health import fetch, health, raw_timestamp_clients, series_of
from components.offline import read_stack_file, run_program
from tests.moto_server import moto_server


def watches(count: int) -> list[Watch]:
    examples = {hosting: json.loads(run_program(read_stack_file(ROOT / f"Pulumi.example-{hosting}.yaml"))
                                    .to_json()["outputs"]["freshness_targets"]) for hosting in ("cloud", "onprem")}
    found = []
    for n in range(count):
        document = dict(examples["cloud" if n % 2 else "onprem"])
        document.update(installation_id=f"customer-{n:03}", namespace=f"Daktela/customer-{n:03}")
        found.append(Watch.from_json(json.dumps(document)))
    return found


def publish(client, watch: Watch, now: datetime, days: int) -> int:
    data = []
    for hours_ago in range(days * 24):
        when = now - timedelta(hours=hours_ago)
        for series in series_of(watch):
            dimensions = [{"Name": "Installation", "Value": watch.installation_id}]
            if series.technology:
                dimensions.append({"Name": "Technology", "Value": series.technology})
            value = 120.0 if series.metric == ATTACHMENTS_METRIC else \
                0.0 if series.metric in {m[1] for m in METRICS.values()} else float((-hours_ago) % 12 + 1)
            data.append({"MetricName": series.metric, "Dimensions": dimensions, "Timestamp": when, "Value": value})
    for first in range(0, len(data), 1000):
        client.put_metric_data(Namespace=watch.namespace, MetricData=data[first:first + 1000])
    return len(data)


def one_request_per_metric(fleet: list[Watch], client_for, end: datetime) -> int:
    requests = 0
    for watch in fleet:
        for series in series_of(watch):
            fetch([series], client_for, end)
            requests += 1
    return requests


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--installations", type=int, default=300)
    parser.add_argument("--days-published", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "eu-central-1"})
    fleet = watches(args.installations)
    now = datetime.now(timezone.utc).replace(minute=30, second=0, microsecond=0)
    end = now.replace(minute=0) + timedelta(hours=1)
    with tempfile.TemporaryDirectory(prefix="bench-health-") as tmp, moto_server(Path(tmp) / "moto.log") as endpoint:
        client_for = raw_timestamp_clients(endpoint)  # as scripts/fleet_health.py makes them, for both
        started = time.perf_counter()
        points = sum(publish(client_for("cloudwatch", w.metrics_region), w, now, args.days_published) for w in fleet)
        publish_seconds = time.perf_counter() - started
        ours, peer, requests, peer_requests = [], [], 0, 0
        for _ in range(args.repeats):  # alternately, so that neither always runs on a warmer server
            started = time.perf_counter()
            rows, requests = health(fleet, client_for, now)
            ours.append(time.perf_counter() - started)
            started = time.perf_counter()
            peer_requests = one_request_per_metric(fleet, client_for, end)
            peer.append(time.perf_counter() - started)
        assert len(rows) == args.installations
    save("fleet_health", {
        "installations": args.installations, "series": sum(len(series_of(w)) for w in fleet),
        "points_published": points, "publish_seconds": round(publish_seconds, 1),
        "ours": {"seconds_median": round(median(ours), 2), "runs": [round(t, 2) for t in ours], "requests": requests},
        "one_request_per_metric": {"seconds_median": round(median(peer), 2), "runs": [round(t, 2) for t in peer],
                                   "requests": peer_requests},
        "speed_ours_vs_peer": round(median(peer) / median(ours), 2),
        "requests_ours_vs_peer": round(requests / peer_requests, 4),
        "command": f"python bench/fleet_health.py --installations {args.installations} "
                   f"--days-published {args.days_published} --repeats {args.repeats}",
    })


if __name__ == "__main__":
    main()
