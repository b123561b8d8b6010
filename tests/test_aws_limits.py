"""Every name and inline policy the program makes fits AWS's limits (components/aws_limits.py), for
the longest installation id the config allows for each hosting."""

from __future__ import annotations

import pytest

from components import aws_limits
from components.config import MAX_ID_LENGTH
from tests.conftest import example_installation, plan_of, run_recorded, stack_input

HOSTINGS = {"cloud": "cloud", "on-premise": "on-premise"}


def longest_id(hosting: str) -> str:
    return ("z" + "9-" * 30)[:MAX_ID_LENGTH[hosting] - 1] + "z"


@pytest.mark.parametrize("hosting", sorted(HOSTINGS))
def test_every_name_and_policy_fits_for_the_longest_allowed_id(hosting):
    installation = example_installation(hosting)
    installation["id"] = longest_id(hosting)
    plan = plan_of(installation).to_json()
    assert aws_limits.problems(plan) == []
    tightest = aws_limits.longest(plan)[0]
    assert tightest[0] <= tightest[1]


@pytest.mark.parametrize("hosting", sorted(HOSTINGS))
def test_one_character_more_is_refused_with_the_reason(hosting):
    installation = example_installation(hosting)
    installation["id"] = longest_id(hosting)[:-1] + "zz"
    error, recorder = run_recorded(stack_input(installation))
    assert error is not None and recorder.resources == []
    message = str(error)
    assert "installation.id" in message and f"may have {MAX_ID_LENGTH[hosting]}" in message


def test_the_limits_catch_a_name_aws_would_refuse():
    plan = {"resources": [
        {"type": "aws:backup/plan:Plan", "name": "p", "inputs": {"name": "daktela-" + "a" * 31 + "-block-level"}},
        {"type": "aws:s3/bucket:Bucket", "name": "b" * 56, "inputs": {}},
        {"type": "aws:s3/bucket:Bucket", "name": "ok", "inputs": {"bucket": "Upper_Case"}},
        {"type": "aws:iam/userPolicy:UserPolicy", "name": "u", "inputs": {
            "user": "host", "policy": '{"Statement": [{"Resource": "' + "r" * 2100 + '"}]}'}},
    ]}
    found = aws_limits.problems(plan)
    assert len(found) == 4, found
    assert any("51 characters; AWS allows 50" in p for p in found)
    assert any("64 characters; AWS allows 63" in p for p in found)


def test_user_data_and_parameter_values_fit_and_one_byte_more_is_refused():
    """EC2 takes 16 KB of user data, SSM 8 KB in an advanced parameter: the job files (30 KB with
    the restore drill) are in S3 now; user data and the parameter hold the converger."""
    plan = plan_of(example_installation("cloud")).to_json()
    sizes = {(r["type"], what): (size, limit) for r in plan["resources"]
             for what, size, limit in aws_limits.value_sizes(r)}
    user_data, user_data_limit = sizes[("aws:ec2/instance:Instance", "user data")]
    assert 5_000 < user_data <= user_data_limit // 2 and user_data_limit == 16384
    parameter, parameter_limit = sizes[("aws:ssm/parameter:Parameter", "value")]
    assert 3_000 < parameter <= parameter_limit * 2 // 3 and parameter_limit == 8192
    instance = next(r for r in plan["resources"] if r["type"] == "aws:ec2/instance:Instance")
    instance["inputs"]["userData"] += "#" * (user_data_limit - user_data + 1)
    assert aws_limits.problems(plan) == [
        f"aws:ec2/instance:Instance {instance['name']}: user data has 16385 bytes; AWS allows 16384"]


def test_the_guardrails_report_a_name_aws_would_refuse():
    from components.guardrails import check_plan

    plan = plan_of(example_installation("cloud")).to_json()
    vault = next(r for r in plan["resources"] if r["type"] == "aws:backup/vault:Vault")
    vault["inputs"]["name"] = "v" * 51
    assert [v.rule for v in check_plan(plan)] == ["aws-limits"]
