"""A month's statement of one installation, from its ledger records and its storage readings.

The billing rules live here, and only here (docs/operate.md#billing says them for people):

- **Days.** A month is a calendar month in UTC. An installation is billed from its contract's
  `start_date` to its `end_date` (both included; no end date: to the end of the month).
- **Monthly fees** (9.03, 9.04) are pro rata by day: price x billed days / days in the month.
- **The one-off fee** (6.21) is billed in the month of the contract start, once, at its recorded
  price.
- **Prices** are those of the ledger as they stood: for each day, the fee's record with the latest
  `effective_from` on or before that day. A price change mid-month splits the month into lines.
- **Storage.** A day's reading is the largest reading of comments and email attachments that day
  (the meters report every 6 hours; a catalogue GB is 10^9 bytes of the files' apparent size). Every
  billed day has a figure: its own reading; without one, the last reading of the CARRY_DAYS days
  before it (carried forward: storage is never carried back from a later, larger reading); without
  that either, the day is not measured and counts as the included GB (nothing billed above it for
  that day). The month's stored GB is the average of the figures over all billed days, so one day
  (a peak, or the only day read) weighs 1/days of the month. The billed quantity is every started GB
  above the included GB (ceiling), priced per GB-month and pro rata by day like the monthly fees.
  A billed day without a reading of its own makes the statement incomplete (it says which days);
  a month without any reading on or before its billed days is not billed for storage at all.
- **Money** is Decimal throughout; each line's amount is rounded half up to cents.

No AWS here: scripts/statement.py reads the ledger and CloudWatch and hands the values in.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any, Iterable, Optional

from components.catalogue import CATALOGUE, CONTRACT_RECORD, FeeKind
from components.names import ATTACHMENTS_METRIC

CENT = Decimal("0.01")
CARRY_DAYS = 7  # a day without a reading takes the last one of at most this many days before it
GB_PRECISION = Decimal("0.001")
FEES = {fee.code: fee for fee in CATALOGUE}


class StatementError(Exception):
    """Something in the ledger or the arguments a person must fix; the message says what."""


def month_days(month: str) -> tuple[date, date]:
    """The first and the last day of a month given as YYYY-MM."""
    try:
        if not re.fullmatch(r"\d{4}-\d{2}", month):  # strptime takes 2026-1 too, and it would label the statement so
            raise ValueError(month)
        first = datetime.strptime(month, "%Y-%m").date()
    except ValueError:
        raise StatementError(f'"{month}" is not a month; write it as YYYY-MM, e.g. 2027-03') from None
    return first, first.replace(day=calendar.monthrange(first.year, first.month)[1])


@dataclass(frozen=True)
class Contract:
    installation_id: str
    customer: str
    hosting: str
    currency: str
    start_date: date
    end_date: Optional[date]
    included_gb: int
    metrics_region: str
    metrics_namespace: str


@dataclass(frozen=True)
class PriceRecord:
    code: str
    price: Decimal
    currency: str
    effective_from: date


def from_ledger(installation_id: str, items: list[dict[str, Any]]) -> tuple[Contract, list[PriceRecord]]:
    """The contract and price records of one installation from its ledger items (as
    ledger_table.list_records returns them)."""
    contracts = [i for i in items if i.get("record") == CONTRACT_RECORD]
    if not contracts:
        raise StatementError(
            f"{installation_id}: the ledger has no contract record; run `pulumi up` of its stack with "
            "this version of the toolkit (it writes one), then make the statement again")
    c = contracts[0]
    contract = Contract(
        installation_id=installation_id, customer=str(c["customer"]), hosting=str(c["hosting"]),
        currency=str(c["currency"]), start_date=date.fromisoformat(str(c["start_date"])),
        end_date=date.fromisoformat(str(c["end_date"])) if c.get("end_date") else None,
        included_gb=int(c["included_storage_gb"]), metrics_region=str(c["metrics_region"]),
        metrics_namespace=str(c["metrics_namespace"]),
    )
    records = []
    for item in items:
        if item.get("record") == CONTRACT_RECORD:
            continue
        if item.get("currency") != contract.currency:
            raise StatementError(
                f"{installation_id}: record {item.get('record')} is in {item.get('currency')}, the contract "
                f"in {contract.currency}; one installation is billed in one currency")
        records.append(PriceRecord(str(item["fee_code"]), Decimal(item["price"]), str(item["currency"]),
                                   date.fromisoformat(str(item["effective_from"]))))
    return contract, records


def daily_readings(points: Iterable[tuple[datetime, float]]) -> dict[date, Decimal]:
    """Each UTC day's largest reading, in GB."""
    days: dict[date, Decimal] = {}
    for when, value in points:
        day = when.astimezone(timezone.utc).date()
        reading = Decimal(str(value))
        days[day] = max(days.get(day, reading), reading)
    return days


@dataclass(frozen=True)
class Line:
    code: str
    description: str
    period_from: date
    period_to: date
    quantity: Optional[Decimal]  # None: not measured (see note)
    unit: str
    unit_price: Decimal
    amount: Optional[Decimal]  # None: cannot be billed yet (see note)
    days: Optional[int] = None  # billed days of the period (pro rata lines)
    days_in_month: Optional[int] = None
    note: str = ""


@dataclass
class Statement:
    contract: Contract
    month: str
    lines: list[Line] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the statement is incomplete while any remain

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines if line.amount is not None), Decimal("0.00"))


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def price_periods(records: list[PriceRecord], code: str, first: date, last: date) -> list[tuple[Optional[PriceRecord], date, date]]:
    """Consecutive days of [first, last] with the same price record of `code` (None: no record yet)."""
    own = sorted((r for r in records if r.code == code), key=lambda r: r.effective_from)
    periods: list[tuple[Optional[PriceRecord], date, date]] = []
    for day in _days(first, last):
        applicable = next((r for r in reversed(own) if r.effective_from <= day), None)
        if periods and periods[-1][0] == applicable:
            periods[-1] = (applicable, periods[-1][1], day)
        else:
            periods.append((applicable, day, day))
    return periods


def pro_rata(quantity: Decimal, price: Decimal, days: int, days_in_month: int) -> Decimal:
    return (quantity * price * days / days_in_month).quantize(CENT, rounding=ROUND_HALF_UP)


def statement(contract: Contract, records: list[PriceRecord], readings: dict[date, Decimal], month: str) -> Statement:
    """The installation's statement for `month` (YYYY-MM): see the rules at the top of this module."""
    month_first, month_last = month_days(month)
    result = Statement(contract, month)
    first = max(month_first, contract.start_date)
    last = min(month_last, contract.end_date) if contract.end_date else month_last
    if first > last:
        return result  # not billed in this month
    in_month = month_last.day
    codes = [fee.code for fee in CATALOGUE if contract.hosting in fee.hostings]

    storage = _storage(contract, readings, first, last)
    for code in codes:
        fee = FEES[code]
        if fee.kind is FeeKind.ONE_OFF:
            if month_first <= contract.start_date <= month_last:
                own = [r for r in records if r.code == code]
                if not own:
                    result.problems.append(f"{contract.installation_id}: no {code} record in the ledger")
                    continue
                setup = min(own, key=lambda r: r.effective_from)
                result.lines.append(Line(code, fee.name, contract.start_date, contract.start_date, Decimal(1),
                                         "one-off", setup.price, setup.price.quantize(CENT, ROUND_HALF_UP)))
            continue
        for record, period_from, period_to in price_periods(records, code, first, last):
            if record is None:
                result.problems.append(
                    f"{contract.installation_id}: no {code} price in the ledger for {period_from}..{period_to}")
                continue
            days = (period_to - period_from).days + 1
            if fee.kind is FeeKind.MONTHLY:
                result.lines.append(Line(code, fee.name, period_from, period_to, Decimal(1), "month",
                                         record.price, pro_rata(Decimal(1), record.price, days, in_month),
                                         days, in_month))
                continue
            quantity, note, problem = storage
            if problem:
                result.problems.append(problem)
            result.lines.append(Line(
                code, f"{fee.name}: {contract.included_gb} GB included", period_from, period_to,
                quantity, "GB-month", record.price,
                pro_rata(quantity, record.price, days, in_month) if quantity is not None else None,
                days, in_month, note))
    return result


def _storage(contract: Contract, readings: dict[date, Decimal], first: date,
             last: date) -> tuple[Optional[Decimal], str, Optional[str]]:
    """(billed GB above the included, a note for people, a problem) for the billed days [first, last]
    (`readings` may hold the CARRY_DAYS days before `first` too: see the rules at the top)."""
    billed = list(_days(first, last))
    figures, carried, unmeasured = [], [], []
    last_known: Optional[tuple[date, Decimal]] = None
    for day in _days(first - timedelta(days=CARRY_DAYS), last):
        if day in readings:
            last_known = (day, readings[day])
        if day < first:
            continue
        if day in readings:
            figures.append(readings[day])
        elif last_known is not None and (day - last_known[0]).days <= CARRY_DAYS:
            figures.append(last_known[1])
            carried.append(day)
        else:
            figures.append(Decimal(contract.included_gb))
            unmeasured.append(day)
    own = len(billed) - len(carried) - len(unmeasured)
    where = f"in {contract.metrics_namespace} ({contract.metrics_region})"
    if len(unmeasured) == len(billed):
        return None, "no storage readings on the billed days: not billed", (
            f"{contract.installation_id}: no storage readings between {first} and {last} {where}; storage "
            "is not billed until the meter's figures are found (docs/operate.md#billing-the-monthly-statement)")
    average = (sum(figures, Decimal(0)) / len(billed)).quantize(GB_PRECISION, rounding=ROUND_HALF_UP)
    above = max(Decimal(0), average - contract.included_gb).to_integral_value(rounding=ROUND_CEILING)
    note = f"average over {len(billed)} billed days {average} GB; readings on {own} of them"
    if carried:
        note += f"; {len(carried)} carried from the reading before"
    if unmeasured:
        note += f"; {len(unmeasured)} not measured (counted as the included {contract.included_gb} GB)"
    problem = None
    if carried or unmeasured:
        problem = (f"{contract.installation_id}: {len(carried) + len(unmeasured)} of {len(billed)} billed days have no "
                   f"storage reading {where}: {_day_ranges(carried + unmeasured)}; billed as the note says, "
                   "check the meter (docs/operate.md#billing-the-monthly-statement)")
    return above, note, problem


def _day_ranges(days: list[date]) -> str:
    """2027-03-18, 2027-03-21..2027-03-23: consecutive days as one range."""
    ranges: list[list[date]] = []
    for day in sorted(days):
        if ranges and (day - ranges[-1][1]).days == 1:
            ranges[-1][1] = day
        else:
            ranges.append([day, day])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in ranges)


def fetch_readings(cloudwatch: Any, contract: Contract, first: date, last: date) -> list[tuple[datetime, float]]:
    """The storage readings of [first, last] and the CARRY_DAYS days before it from CloudWatch:
    hourly maxima (kept 455 days), so which UTC day a reading belongs to is decided here, not by
    CloudWatch's period alignment."""
    start = datetime.combine(first - timedelta(days=CARRY_DAYS), datetime.min.time(), timezone.utc)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), timezone.utc)
    request: dict[str, Any] = {
        "MetricDataQueries": [{"Id": "storage", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": contract.metrics_namespace, "MetricName": ATTACHMENTS_METRIC,
                       "Dimensions": [{"Name": "Installation", "Value": contract.installation_id}]},
            "Period": 3600, "Stat": "Maximum"}}],
        "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending",
    }
    points: list[tuple[datetime, float]] = []
    while True:
        page = cloudwatch.get_metric_data(**request)
        for result in page["MetricDataResults"]:
            points += [(when, value) for when, value in zip(result["Timestamps"], result["Values"])
                       if start <= when < end]
        if not page.get("NextToken"):
            return points
        request["NextToken"] = page["NextToken"]


CSV_COLUMNS = ("month", "installation_id", "customer", "hosting", "code", "description", "period_from",
               "period_to", "days", "days_in_month", "quantity", "unit", "unit_price", "amount", "currency",
               "note")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return f"{value:.2f}" if -value.as_tuple().exponent <= 2 else str(value)  # type: ignore[operator]
    return str(value)


def rows(statements: list[Statement]) -> list[dict[str, str]]:
    """One row per line, every value as text (Decimals never through float)."""
    out = []
    for s in statements:
        c = s.contract
        for line in s.lines:
            out.append({
                "month": s.month, "installation_id": c.installation_id, "customer": c.customer,
                "hosting": c.hosting, "code": line.code, "description": line.description,
                "period_from": line.period_from.isoformat(), "period_to": line.period_to.isoformat(),
                "days": _text(line.days), "days_in_month": _text(line.days_in_month),
                "quantity": "" if line.quantity is None else str(line.quantity), "unit": line.unit, "unit_price": _text(line.unit_price),
                "amount": _text(line.amount), "currency": c.currency, "note": line.note,
            })
    return out


def document(month: str, statements: list[Statement]) -> dict[str, Any]:
    """The statements as one JSON document: per installation its lines and total, the totals per
    currency, and every problem that leaves a statement incomplete."""
    totals: dict[str, Decimal] = {}
    for s in statements:
        totals[s.contract.currency] = totals.get(s.contract.currency, Decimal("0.00")) + s.total
    by_id = {s.contract.installation_id: s for s in statements}
    return {
        "month": month,
        "installations": [
            {"installation_id": s.contract.installation_id, "customer": s.contract.customer,
             "hosting": s.contract.hosting, "currency": s.contract.currency, "total": _text(s.total),
             "complete": not s.problems,
             "lines": [{k: v for k, v in row.items() if k not in ("month", "installation_id", "customer",
                                                                   "hosting", "currency")}
                       for row in rows([by_id[s.contract.installation_id]])]}
            for s in statements
        ],
        "totals": {currency: _text(total) for currency, total in sorted(totals.items())},
        "problems": [p for s in statements for p in s.problems],
    }
