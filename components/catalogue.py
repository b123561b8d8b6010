"""The vendor's fee catalogue and the ledger's keys: codes, kinds and names, no prices.

Prices are contract data (the stack config); the program writes them into the ledger
(components/fees.py) and statements read them back (components/billing.py). No Pulumi here, so
that the statement script starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

LEDGER_HASH_KEY = "installation_id"
LEDGER_RANGE_KEY = "record"
CONTRACT_RECORD = "contract"


class FeeKind(str, Enum):
    MONTHLY = "monthly"
    ONE_OFF = "one-off"
    PER_GB_MONTHLY = "per-GB monthly"


@dataclass(frozen=True)
class Fee:
    code: str
    name: str
    kind: FeeKind
    price_field: str  # attribute of config.Prices that holds this fee's price
    hostings: tuple[str, ...]


CATALOGUE: tuple[Fee, ...] = (
    Fee("9.03", "Daktela CC Installation + 100 GB Storage", FeeKind.MONTHLY,
        "installation_monthly", ("cloud", "on-premise")),
    # The catalogue prices storage above the included GB per GB without a code of its own; it is
    # part of 9.03, so its record carries that code with a suffix.
    Fee("9.03-storage", "Storage above the included GB (comments and email attachments)",
        FeeKind.PER_GB_MONTHLY, "storage_per_gb", ("cloud", "on-premise")),
    Fee("9.04", "On-premise installation (Outside Daktela Cloud)", FeeKind.MONTHLY,
        "on_premise_monthly", ("on-premise",)),
    Fee("6.21", "On-premise installation setup (one-off)", FeeKind.ONE_OFF,
        "on_premise_setup", ("on-premise",)),
)


def dynamodb_number(value: Decimal | int) -> str:
    """A number as DynamoDB returns it (no trailing zeros, no exponent: 450.00 -> "450"). The
    provider stores the item DynamoDB returns; any other spelling would show as a change of every
    fee record in every later preview."""
    return format(Decimal(value).normalize(), "f")
