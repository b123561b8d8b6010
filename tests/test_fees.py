"""Fee catalogue and ledger: which records for which hosting, one-off written once, all retained."""

from __future__ import annotations

import json

import pytest

from components.config import parse_installation
from components.fees import CATALOGUE, FeeKind, fee_records
from components.planview import diff_plans
from tests.conftest import example_installation, plan_of

TABLE_ITEM = "aws:dynamodb/tableItem:TableItem"


def _ledger_records(plan) -> dict[str, dict]:
    """Fee records by record key (the contract record left out)."""
    return {json.loads(r.inputs["item"])["record"]["S"]: r for r in plan.of_type(TABLE_ITEM)
            if json.loads(r.inputs["item"])["record"]["S"] != "contract"}


def _contract(plan) -> dict:
    found = [json.loads(r.inputs["item"]) for r in plan.of_type(TABLE_ITEM)
             if json.loads(r.inputs["item"])["record"]["S"] == "contract"]
    assert len(found) == 1
    return found[0]


def test_catalogue_codes_and_kinds_are_the_vendors():
    kinds = {fee.code: fee.kind for fee in CATALOGUE}
    assert kinds == {
        "9.03": FeeKind.MONTHLY,
        "9.03-storage": FeeKind.PER_GB_MONTHLY,
        "9.04": FeeKind.MONTHLY,
        "6.21": FeeKind.ONE_OFF,
    }


def test_cloud_records_9_03_and_storage_only():
    records = fee_records(parse_installation(example_installation("cloud")))
    assert [r.fee.code for r in records] == ["9.03", "9.03-storage"]


def test_on_premise_records_9_03_9_04_6_21_and_storage():
    records = fee_records(parse_installation(example_installation("on-premise")))
    assert [r.fee.code for r in records] == ["9.03", "9.03-storage", "9.04", "6.21"]


def test_prices_come_from_the_contract_not_the_code():
    installation = example_installation("on-premise")
    installation["contract"]["prices"].update(
        installation_monthly=111.11, on_premise_monthly=222.22, on_premise_setup=333.33,
        storage_per_gb=0.44,
    )
    installation["contract"]["currency"] = "CZK"
    items = {c: json.loads(r.inputs["item"]) for c, r in _ledger_records(plan_of(installation)).items()}
    assert {c: i["price"]["N"] for c, i in items.items()} == {
        "9.03": "111.11", "9.03-storage": "0.44", "9.04": "222.22", "6.21": "333.33",
    }
    assert {i["currency"]["S"] for i in items.values()} == {"CZK"}
    assert items["9.03-storage"]["included_gb"]["N"] == "100"


@pytest.mark.parametrize("hosting,codes", [
    ("cloud", {"9.03", "9.03-storage"}),
    ("on-premise", {"9.03", "9.03-storage", "9.04", "6.21"}),
])
def test_ledger_items_are_keyed_by_installation_and_record_and_retained(hosting, codes):
    installation = example_installation(hosting)
    records = _ledger_records(plan_of(installation))
    assert set(records) == codes
    for code, resource in records.items():
        item = json.loads(resource.inputs["item"])
        assert resource.inputs["tableName"] == installation["ledger"]["table"]
        assert (resource.inputs["hashKey"], resource.inputs["rangeKey"]) == ("installation_id", "record")
        assert item["installation_id"]["S"] == installation["id"] and item["fee_code"]["S"] == code
        assert item["effective_from"]["S"] == "2026-12-01"  # the contract date, never "now"
        assert resource.options["retain_on_delete"] is True, f"{code} must survive pulumi destroy"
        assert resource.provider == f"{installation['id']}-fees-ledger-region (eu-central-1)"


def test_one_off_fee_ignores_every_later_change_and_monthly_fees_follow_the_contract():
    records = _ledger_records(plan_of(example_installation("on-premise")))
    assert records["6.21"].options["ignore_changes"] == ["hashKey", "item", "rangeKey", "tableName"]
    for code in ("9.03", "9.03-storage", "9.04"):
        assert records[code].options["ignore_changes"] == []


def test_changed_setup_price_never_rewrites_the_one_off_record():
    base = example_installation("on-premise")
    changed = example_installation("on-premise")
    changed["contract"]["prices"]["on_premise_setup"] = 2000
    changed["contract"]["prices"]["installation_monthly"] = 500
    diff = diff_plans(plan_of(base).to_json(), plan_of(changed).to_json())
    changes = {(d.name, c.path): c for d in diff.changed for c in d.changes}
    one_off = changes[("acme-onprem-fees-6.21", "inputs.item.price.N")]
    monthly = changes[("acme-onprem-fees-9.03", "inputs.item.price.N")]
    # numbers as DynamoDB returns them (450.00 is stored as 450)
    assert (one_off.before, one_off.after, one_off.ignored) == ("1500", "2000", True)
    assert (monthly.before, monthly.after, monthly.ignored) == ("450", "500", False)
    assert not diff.added and not diff.removed  # no second 6.21 record, no replacement


def test_the_fees_output_shows_what_the_ledger_bills_after_a_price_edit(monkeypatch):
    """Issue 25.6: after the 6.21 price was edited, the output `fees` showed the new price while the
    ledger kept the billed one. The output is read from the items' state: here the engine keeps the
    one-off's first item (ignore_changes), as `pulumi up` does, while the config says 2000."""
    import json

    from components import offline

    written = next(r for r in plan_of(example_installation("on-premise")).resources
                   if r.name == "acme-onprem-fees-6.21").inputs["item"]
    monkeypatch.setitem(offline.FAKE_OUTPUTS, "aws:dynamodb/tableItem:TableItem",
                        lambda name, inputs, region: {"item": written} if name.endswith("-fees-6.21") else {})
    changed = example_installation("on-premise")
    changed["contract"]["prices"]["on_premise_setup"] = 2000
    changed["contract"]["prices"]["installation_monthly"] = 500
    fees = {f["code"]: f["price"] for f in plan_of(changed).outputs["fees"]}
    assert fees["6.21"] == "1500.00" and json.loads(written)["price"] == {"N": "1500"}  # as billed
    assert fees["9.03"] == "500.00"  # a monthly fee follows the contract


def test_an_open_contract_cannot_be_destroyed_and_an_ended_one_can(tmp_path):
    """Issue 25.6: a stack destroyed without contract.end_date went on being billed 9.03 every month.
    While the contract is open its ledger record is protected, so `pulumi destroy` refuses the stack
    (the engine refuses to delete a protected resource); setting the end date lifts it, and nothing
    else changes but the contract record."""
    from components.guardrails import check_plan

    def contract(config):
        plan = plan_of(config)
        return next(r for r in plan.resources if r.name.endswith("-fees-contract")), plan

    record, plan = contract(example_installation("cloud"))
    assert record.options["protect"] is True and check_plan(plan.to_json()) == []
    ended = example_installation("cloud")
    ended["contract"]["end_date"] = "2027-06-30"
    record, plan = contract(ended)
    assert record.options["protect"] is False and '"end_date": {"S": "2027-06-30"}' in record.inputs["item"]
    assert check_plan(plan.to_json()) == []


def test_one_off_fee_appears_exactly_once():
    plan = plan_of(example_installation("on-premise"))
    one_offs = [r for r in plan.of_type(TABLE_ITEM)
                if json.loads(r.inputs["item"]).get("kind", {}).get("S") == FeeKind.ONE_OFF.value]
    assert len(one_offs) == 1


def test_unchanged_stack_plans_identically():
    first = plan_of(example_installation("on-premise")).to_json()
    second = plan_of(example_installation("on-premise")).to_json()
    assert first == second
    assert diff_plans(first, second).empty


def test_every_aws_resource_has_an_explicit_regional_provider():
    for hosting in ("cloud", "on-premise"):
        for resource in plan_of(example_installation(hosting)).resources:
            if resource.type.startswith("aws:"):
                assert resource.provider not in (None, "default"), resource.urn


def test_contract_record_says_what_a_statement_needs():
    contract = _contract(plan_of(example_installation("on-premise")))
    assert contract == {
        "installation_id": {"S": "acme-onprem"}, "record": {"S": "contract"},
        "customer": {"S": "ACME Contact s.r.o."}, "hosting": {"S": "on-premise"}, "currency": {"S": "EUR"},
        "start_date": {"S": "2026-12-01"}, "included_storage_gb": {"N": "100"},
        "metrics_region": {"S": "eu-central-1"}, "metrics_namespace": {"S": "Daktela/acme-onprem"},
    }


def test_price_change_adds_records_from_its_date_and_rewrites_nothing():
    base = example_installation("on-premise")
    changed = example_installation("on-premise")
    changed["contract"]["price_changes"] = [
        {"effective_from": "2027-07-15", "prices": {"installation_monthly": 480, "storage_per_gb": 0.3}},
        {"effective_from": "2028-01-01", "prices": {"on_premise_monthly": 210}},
    ]
    diff = diff_plans(plan_of(base).to_json(), plan_of(changed).to_json())
    assert not diff.changed and not diff.removed  # no earlier record is touched
    added = {d["name"]: json.loads(d["inputs"]["item"]) for d in diff.added if d["type"] == TABLE_ITEM}
    assert {name: (item["record"]["S"], item["fee_code"]["S"], item["price"]["N"], item["effective_from"]["S"])
            for name, item in added.items()} == {
        "acme-onprem-fees-9.03-from-2027-07-15": ("9.03@2027-07-15", "9.03", "480", "2027-07-15"),
        "acme-onprem-fees-9.03-storage-from-2027-07-15": ("9.03-storage@2027-07-15", "9.03-storage", "0.3",
                                                          "2027-07-15"),
        "acme-onprem-fees-9.04-from-2028-01-01": ("9.04@2028-01-01", "9.04", "210", "2028-01-01"),
    }


def test_end_date_changes_only_the_contract_record():
    base = example_installation("cloud")
    ended = example_installation("cloud")
    ended["contract"]["end_date"] = "2027-06-30"
    diff = diff_plans(plan_of(base).to_json(), plan_of(ended).to_json())
    assert [(d.name, [c.path for c in d.changes]) for d in diff.changed] == [
        ("acme-cloud-fees-contract", ["inputs.item.end_date.S", "options.protect"])]
    assert not diff.added and not diff.removed
