"""moto's server, with CloudWatch's GetMetricData made usable at a fleet's size and as strict as AWS.

moto 5.2 answers GetMetricData by scanning every stored datapoint for every period of every query:
30 days of hourly metrics for five installations (about 50,000 datapoints, 70 queries, 720 periods)
did not finish in ten minutes. This replaces that one method, for MetricStat queries, with the same
answer found through an index of the stored points by series (rebuilt when points were added; each
series' points bucketed by period, each bucket's statistic computed by moto's own Statistics), and checks what AWS checks and moto does not: at most 500
queries a request, unique ids. It is also stricter than moto where moto is wrong: a query matches
the series with exactly its namespace, name and dimensions (moto ignores the namespace when a query
has dimensions, and takes any dimensions when it has none). Expression queries still go to moto.
Run as `python -m tests.moto_main -H 127.0.0.1 -p PORT` (tests/moto_server.py does).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from datetime import timedelta
from typing import Any

from moto.cloudwatch import models
from moto.cloudwatch.exceptions import ValidationError

MAX_QUERIES = 500
_original = models.CloudWatchBackend.get_metric_data


def _key(namespace: str, name: str, dimensions: Any) -> tuple:
    return namespace, name, tuple(sorted(dimensions))


def _index(backend: Any) -> dict[tuple, list[Any]]:
    """Every stored datapoint by its series, built again only when points were added: a request
    then costs what its own series hold, as on CloudWatch, not what the whole account holds."""
    everything = backend.get_all_metrics()
    cached = getattr(backend, "_indexed", None)
    if cached is None or cached[0] != len(everything):
        index: dict[tuple, list[Any]] = defaultdict(list)
        for datum in everything:
            index[_key(datum.namespace, datum.name, ((d.name, d.value) for d in datum.dimensions))].append(datum)
        backend._indexed = cached = (len(everything), index)
    return cached[1]


def get_metric_data(self: Any, queries: list[dict[str, Any]], start_time: Any, end_time: Any,
                    scan_by: str = "TimestampAscending") -> list[dict[str, Any]]:
    if len(queries) > MAX_QUERIES:
        raise ValidationError(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    ids = [q["Id"] for q in queries]
    if len(set(ids)) != len(ids):
        raise ValidationError("The values for parameter id in MetricDataQueries are not unique.")
    if any("MetricStat" not in q for q in queries):
        return _original(self, queries, start_time, end_time, scan_by)
    start, end = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    if start >= end:
        raise ValidationError("The parameter EndTime must be greater than StartTime.")
    index = _index(self)
    results = []
    for query in queries:
        stat = query["MetricStat"]
        metric, statistic, period = stat["Metric"], stat["Stat"], int(stat["Period"])
        wanted = _key(metric["Namespace"], metric["MetricName"],
                      ((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
        buckets: dict[int, list[Any]] = defaultdict(list)
        for datum in index.get(wanted, []):
            if not start <= datum.timestamp < end or (stat.get("Unit") and datum.unit != stat["Unit"]):
                continue
            buckets[int((datum.timestamp - start).total_seconds()) // period].append(datum)
        timestamps, values = [], []
        for number in sorted(buckets):
            statistics = models.Statistics([statistic], start + timedelta(seconds=number * period))
            statistics.metric_data = buckets[number]
            values.append(statistics.get_statistics_for_type(statistic))
            timestamps.append(statistics.timestamp)
        if scan_by == "TimestampDescending":
            timestamps.reverse()
            values.reverse()
        if query.get("ReturnData", True):
            results.append({"id": query["Id"], "label": query.get("Label") or f"{metric['MetricName']} {statistic}",
                            "values": values, "timestamps": timestamps, "status_code": "Complete"})
    return results


models.CloudWatchBackend.get_metric_data = get_metric_data  # type: ignore[method-assign]

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
