"""The fee catalogue (codes and kinds, from the vendor's catalogue) and the fee ledger component.

Codes and kinds are the catalogue's and live here; prices are contract data from the stack config.
The ledger holds, per installation, one item for the contract (dates, currency, included storage,
where its storage readings are) and one item per fee and price period: the price from the contract
start (record key = the fee code) and each later price from its effective date (`<code>@<date>`).
A price change adds records and never rewrites earlier ones. Billing history is never deleted:
every record is retained when the stack is destroyed, and the one-off setup fee is written once and
never rewritten, whatever later happens to its price. scripts/statement.py reads the ledger.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Optional

import pulumi
import pulumi_aws as aws

from components import names
from components.catalogue import (  # noqa: F401  (re-exported: the catalogue's public names)
    CATALOGUE, CONTRACT_RECORD, LEDGER_HASH_KEY, LEDGER_RANGE_KEY, Fee, FeeKind, dynamodb_number)
from components.config import Installation
from components.config.values import money

def record_key(code: str, effective_from: date, contract_start: date) -> str:
    """A fee record's key: the code for the price from the contract start (so a corrected start
    date updates that record instead of leaving a second one), `<code>@<date>` for a later price."""
    return code if effective_from == contract_start else f"{code}@{effective_from.isoformat()}"


@dataclass(frozen=True)
class FeeRecord:
    """One fee's price for one installation from one day on: what the ledger stores."""

    fee: Fee
    installation_id: str
    hosting: str
    price: Decimal
    currency: str
    effective_from: date  # a contract date, never "now": inputs must be deterministic
    key: str
    included_gb: Optional[int] = None

    def item(self) -> dict:
        """The DynamoDB item, in the attribute-value form TableItem and boto3 take."""
        item = {
            LEDGER_HASH_KEY: {"S": self.installation_id},
            LEDGER_RANGE_KEY: {"S": self.key},
            "fee_code": {"S": self.fee.code},
            "fee_name": {"S": self.fee.name},
            "kind": {"S": self.fee.kind.value},
            "hosting": {"S": self.hosting},
            "price": {"N": dynamodb_number(self.price)},
            "currency": {"S": self.currency},
            "effective_from": {"S": self.effective_from.isoformat()},
        }
        if self.included_gb is not None:
            item["included_gb"] = {"N": dynamodb_number(self.included_gb)}
        return item


def fee_records(installation: Installation) -> list[FeeRecord]:
    """The fee records of this installation: each applicable fee's price from the contract start,
    then each later price in date order (catalogue order within a day)."""
    contract = installation.contract
    periods: list[tuple[date, dict[str, Optional[Decimal]]]] = [
        (contract.start_date, contract.prices.model_dump()),
        *((change.effective_from, change.prices.model_dump()) for change in contract.price_changes),
    ]
    records = []
    for day, prices in periods:
        for fee in CATALOGUE:
            price = prices.get(fee.price_field)
            if installation.hosting not in fee.hostings or price is None:
                continue
            records.append(FeeRecord(
                fee=fee,
                installation_id=installation.id,
                hosting=installation.hosting,
                price=price,
                currency=contract.currency,
                effective_from=day,
                key=record_key(fee.code, day, contract.start_date),
                included_gb=contract.included_storage_gb if fee.kind is FeeKind.PER_GB_MONTHLY else None,
            ))
    return records


def contract_item(installation: Installation) -> dict:
    """The contract's own ledger item: what a statement needs besides prices. It changes in place
    (an end date is added when the installation is torn down); prices never do."""
    contract = installation.contract
    item = {
        LEDGER_HASH_KEY: {"S": installation.id},
        LEDGER_RANGE_KEY: {"S": CONTRACT_RECORD},
        "customer": {"S": installation.customer},
        "hosting": {"S": installation.hosting},
        "currency": {"S": contract.currency},
        "start_date": {"S": contract.start_date.isoformat()},
        "included_storage_gb": {"N": dynamodb_number(contract.included_storage_gb)},
        # where the storage readings are: both hostings publish them into regions.primary
        "metrics_region": {"S": installation.regions.primary},
        "metrics_namespace": {"S": names.metrics_namespace(installation.id)},
    }
    if contract.end_date is not None:
        item["end_date"] = {"S": contract.end_date.isoformat()}
    return item


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

        def table_item(resource_name: str, item: dict, ignore: Optional[list[str]],
                       protect: bool = False) -> aws.dynamodb.TableItem:
            return aws.dynamodb.TableItem(
                resource_name,
                table_name=ledger.table,
                hash_key=LEDGER_HASH_KEY,
                range_key=LEDGER_RANGE_KEY,
                item=json.dumps(item, sort_keys=True),
                opts=pulumi.ResourceOptions(parent=self, provider=provider, retain_on_delete=True,
                                            ignore_changes=ignore, protect=protect),
            )

        # An open contract (no end date) is protected: `pulumi destroy` refuses the stack, so that an
        # installation is never torn down while its ledger still bills it every month. The way to
        # tear down: set contract.end_date, `pulumi up` (records it and lifts the protection), then
        # `pulumi destroy` (docs/operate.md, "Tearing an installation down").
        self.contract = table_item(f"{name}-contract", contract_item(installation), None,
                                   protect=installation.contract.end_date is None)
        self.records = {}
        for record in fee_records(installation):
            one_off = record.fee.kind is FeeKind.ONE_OFF
            self.records[record.key] = table_item(
                f"{name}-{record.key.replace('@', '-from-')}", record.item(),
                ONE_OFF_IGNORED_INPUTS if one_off else None)
        self.register_outputs({"fee_records": sorted(self.records)})

    def billed(self) -> pulumi.Output[list[dict]]:
        """Each fee record as the ledger holds it (the stack output `fees`): read from the items'
        state, not from the config, so a one-off whose price was edited after it was written shows
        the price it was billed at, as the statement does."""
        keys = list(self.records)
        return pulumi.Output.all(*[self.records[key].item for key in keys]).apply(
            lambda items: [billed_fee(json.loads(item)) for item in items])


def billed_fee(item: dict) -> dict:
    """A ledger item (DynamoDB's attribute-value form) as the stack output `fees` shows it."""
    return {"code": item["fee_code"]["S"], "kind": item["kind"]["S"], "price": str(money(Decimal(item["price"]["N"]))),
            "currency": item["currency"]["S"], "effective_from": item["effective_from"]["S"]}
