"""The fee catalogue (codes and kinds, from the vendor's catalogue) and the fee ledger component.

Codes and kinds are the catalogue's and live here; prices are contract data from the stack config.
Each applicable fee becomes one DynamoDB item keyed by (installation_id, fee_code). Billing history
is never deleted: every record is retained when the stack is destroyed, and the one-off setup fee
is written once and never rewritten, whatever later happens to its price.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Optional

import pulumi
import pulumi_aws as aws

from components.config import Installation

LEDGER_HASH_KEY = "installation_id"
LEDGER_RANGE_KEY = "fee_code"


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


@dataclass(frozen=True)
class FeeRecord:
    """One fee as it applies to one installation: what the ledger stores."""

    fee: Fee
    installation_id: str
    hosting: str
    price: Decimal
    currency: str
    effective_from: str  # the contract start date, never "now": inputs must be deterministic
    included_gb: Optional[int] = None

    def item(self) -> dict:
        """The DynamoDB item, in the attribute-value form TableItem and boto3 take."""
        item = {
            LEDGER_HASH_KEY: {"S": self.installation_id},
            LEDGER_RANGE_KEY: {"S": self.fee.code},
            "fee_name": {"S": self.fee.name},
            "kind": {"S": self.fee.kind.value},
            "hosting": {"S": self.hosting},
            "price": {"N": dynamodb_number(self.price)},
            "currency": {"S": self.currency},
            "effective_from": {"S": self.effective_from},
        }
        if self.included_gb is not None:
            item["included_gb"] = {"N": dynamodb_number(self.included_gb)}
        return item


def fee_records(installation: Installation) -> list[FeeRecord]:
    """The fees that apply to this installation, in catalogue order."""
    contract = installation.contract
    records = []
    for fee in CATALOGUE:
        if installation.hosting not in fee.hostings:
            continue
        records.append(FeeRecord(
            fee=fee,
            installation_id=installation.id,
            hosting=installation.hosting,
            price=getattr(contract.prices, fee.price_field),
            currency=contract.currency,
            effective_from=contract.start_date.isoformat(),
            included_gb=contract.included_storage_gb if fee.kind is FeeKind.PER_GB_MONTHLY else None,
        ))
    return records


# Every input of a one-off record is ignored after creation: a changed price, table or key never
# updates it and never replaces it (a replacement would write it a second time).
ONE_OFF_IGNORED_INPUTS = ["tableName", "hashKey", "rangeKey", "item"]


class FeeLedger(pulumi.ComponentResource):
    """Writes this installation's fee records into the shared ledger table."""

    records: dict[str, aws.dynamodb.TableItem]

    def __init__(
        self,
        name: str,
        installation: Installation,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("daktela:fees:FeeLedger", name, None, opts)
        ledger = installation.ledger
        provider = aws.Provider(
            f"{name}-ledger-region",
            region=ledger.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.records = {}
        for record in fee_records(installation):
            one_off = record.fee.kind is FeeKind.ONE_OFF
            self.records[record.fee.code] = aws.dynamodb.TableItem(
                f"{name}-{record.fee.code}",
                table_name=ledger.table,
                hash_key=LEDGER_HASH_KEY,
                range_key=LEDGER_RANGE_KEY,
                item=json.dumps(record.item(), sort_keys=True),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=provider,
                    retain_on_delete=True,
                    ignore_changes=ONE_OFF_IGNORED_INPUTS if one_off else None,
                ),
            )
        self.register_outputs({"fee_codes": sorted(self.records)})
