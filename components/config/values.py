"""Value types with messages for people: times, regions, prices, e-mail, CIDRs, drives, paths."""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
import zoneinfo
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator




def _time_of_day(value: Any) -> time:
    if isinstance(value, time):
        return value
    text = value if isinstance(value, str) else repr(value)
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text) if isinstance(value, str) else None
    if not match:
        raise ValueError(f'"{text}" is not a time of day (HH:MM, 24-hour clock, e.g. "02:00")')
    return time(int(match.group(1)), int(match.group(2)))


# Each service the toolkit uses, with its endpoint prefix (its botocore service model's
# `endpoint_prefix`; tests/test_config.py checks them against the models).
SERVICE_ENDPOINT_PREFIXES = {"s3": "s3", "ec2": "ec2", "backup": "backup", "lambda": "lambda", "ssm": "ssm",
                             "iam": "iam", "sns": "sns", "events": "events", "cloudwatch": "monitoring"}


@functools.lru_cache(maxsize=1)
def known_regions() -> tuple[str, ...]:
    """The regions botocore's own endpoint data lists for every service the toolkit uses, through
    botocore's resolver over its endpoints.json. (Asking a botocore session per service loads each
    service's whole model to learn its endpoint prefix: 0.3 s of every script's start.)"""
    import botocore.loaders
    import botocore.regions

    resolver = botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))
    regions: set[str] = set()
    for index, prefix in enumerate(SERVICE_ENDPOINT_PREFIXES.values()):
        available = set(resolver.get_available_endpoints(prefix, "aws"))
        if index == 0:
            regions = available
        elif available:  # global services (iam) list none
            regions &= available
    return tuple(sorted(regions))


def _aws_region(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d", value):
        raise ValueError(f'"{value}" is not an AWS region name (e.g. "eu-central-1")')
    regions = known_regions()
    if value not in regions:
        import botocore
        close = difflib.get_close_matches(value, regions, n=1)
        hint = f'; did you mean "{close[0]}"?' if close else ""
        raise ValueError(f'"{value}" is not an AWS region where every service the toolkit uses runs, per '
                         f"botocore {botocore.__version__}{hint} (a region launched after that needs a newer "
                         "boto3 pin)")
    return value


MAX_PRICE = Decimal(10) ** 12  # far above any contract; keeps prices exact in DynamoDB's 38 digits


def money(price: Decimal) -> Decimal:
    """At least cents, as prices are written (450 -> 450.00; 0.015 stays)."""
    return price.quantize(Decimal("0.01")) if -price.as_tuple().exponent < 2 else price  # type: ignore[operator]


def _price(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a price; write a number such as 450.00")
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f'"{value}" is not a price; write a number such as 450.00') from None
    if not price.is_finite() or price < 0:
        raise ValueError(f'"{value}" is not a price: it must be a number of 0 or more')
    if price >= MAX_PRICE:
        raise ValueError(f'"{value}" is not a plausible price: it must be less than {MAX_PRICE:,}')
    if -price.as_tuple().exponent > 4:  # type: ignore[operator]
        raise ValueError(f'"{value}" has more than 4 decimal places; round it as the contract does')
    # Money reads with at least two decimals (450.00), whether YAML gave 450, 450.0 or "450.00".
    return money(price)


def _email(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[A-Za-z]{2,}", value):
        raise ValueError(f'"{value}" is not an e-mail address')
    return value


def _timezone(value: Any) -> str:
    try:
        zoneinfo.ZoneInfo(str(value))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f'"{value}" is not an IANA time zone (e.g. "UTC", "Europe/Prague")') from None
    return str(value)


def _cidr(value: Any) -> str:
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise ValueError(
            f'"{value}" is not a network in CIDR form (e.g. "203.0.113.10/32", host bits zero)'
        ) from None
    if network.prefixlen == 0:
        raise ValueError(
            f'"{value}" opens SSH to the whole internet; list the admin networks instead'
        )
    return str(network)


DRIVE_IDENTITY_FORMS = (
    "/dev/disk/by-id/<name>, wwn:<0x…>, serial:<serial> "
    "(or loop:<backing file> on test hosts)"
)


def _drive_identity(value: Any) -> str:
    text = str(value)
    if re.fullmatch(r"/dev/disk/by-id/[^/\s]+", text):
        return text
    if re.fullmatch(r"wwn:0x[0-9a-fA-F]{8,32}", text):
        return text
    if re.fullmatch(r"serial:[A-Za-z0-9_.:-]{3,64}", text):
        return text
    if re.fullmatch(r"loop:/[^\s]+", text):
        return text
    if re.fullmatch(r"/dev/[a-z]+\d*(p?\d+)?", text):
        raise ValueError(
            f'"{text}" is a kernel device name, which can change between boots; '
            f"name the drive by {DRIVE_IDENTITY_FORMS}"
        )
    raise ValueError(f'"{text}" is not a drive identity; use {DRIVE_IDENTITY_FORMS}')


_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")


def _host_address(value: Any) -> str:
    text = str(value)
    try:
        ipaddress.ip_address(text)
        return text
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(text):
        return text
    raise ValueError(f'"{text}" is neither a host name nor an IP address')


def _fingerprint(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", text):
        raise ValueError(
            f'"{text}" is not an SSH host key fingerprint; write it as ssh-keygen -lf prints it '
            '("SHA256:" and 43 base64 characters)'
        )
    return text


def _absolute_path(value: Any) -> str:
    text = str(value)
    if not text.startswith("/") or "//" in text or "/../" in f"{text}/" or text != text.rstrip("/"):
        raise ValueError(f'"{text}" is not a clean absolute path (e.g. "/srv/daktela")')
    return text


_ACCOUNT = r"[a-z_][a-z0-9_-]{0,31}"


def _owner(value: Any) -> str:
    text = str(value)
    if not re.fullmatch(f"{_ACCOUNT}:{_ACCOUNT}", text):
        raise ValueError(f'"{text}" is not user:group (e.g. "mysql:mysql"; names as useradd allows them)')
    return text


TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]
AwsRegion = Annotated[str, BeforeValidator(_aws_region)]
Price = Annotated[Decimal, BeforeValidator(_price)]
Email = Annotated[str, BeforeValidator(_email)]
TimeZone = Annotated[str, BeforeValidator(_timezone)]
Cidr = Annotated[str, BeforeValidator(_cidr)]
DriveIdentity = Annotated[str, BeforeValidator(_drive_identity)]
HostAddress = Annotated[str, BeforeValidator(_host_address)]
Fingerprint = Annotated[str, BeforeValidator(_fingerprint)]
AbsolutePath = Annotated[str, BeforeValidator(_absolute_path)]
Owner = Annotated[str, BeforeValidator(_owner)]

