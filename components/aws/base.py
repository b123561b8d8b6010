"""Pieces every AWS part uses: regional providers with tags, keys, policy documents, topics."""

from __future__ import annotations

import json
from typing import Any, Optional

import pulumi
import pulumi_aws as aws

from components.version import TOOLKIT_VERSION, VERSION_TAG


INSTALLATION_TAG = "daktela-installation"
DATA_CLASS_TAG = "daktela-data-class"
SCRATCH_DATA_CLASS = "drill-scratch"  # the restore drill's scratch volume: never backed up


def regional_provider(name: str, region: str, installation_id: str, parent: pulumi.Resource) -> aws.Provider:
    return aws.Provider(
        name,
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags={
            INSTALLATION_TAG: installation_id,
            "daktela-managed-by": "daktela-installation-toolkit",
            VERSION_TAG: TOOLKIT_VERSION,
        }),
        opts=pulumi.ResourceOptions(parent=parent),
    )


def kms_key(name: str, description: str, provider: aws.Provider, parent: pulumi.Resource) -> aws.kms.Key:
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        opts=pulumi.ResourceOptions(parent=parent, provider=provider),
    )


def policy_document(statements: list[dict[str, Any]]) -> str:
    """An IAM policy document with stable key order (deterministic inputs)."""
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def assume_role_policy(service: str) -> str:
    return policy_document([{
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }])


def moved_from(old_type: str, opts: Optional[pulumi.ResourceOptions]) -> pulumi.ResourceOptions:
    """`opts` plus an alias to the type token a component had before: its live resources and all
    their children keep their identity (the engine derives each child's old URN from the parent's
    alias), so a moved component replaces nothing. Keep an alias as long as any stack may still
    hold the old token."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=[pulumi.Alias(type_=old_type)]))


def child(parent: pulumi.Resource, provider: Optional[aws.Provider] = None, **extra: Any) -> pulumi.ResourceOptions:
    return pulumi.ResourceOptions(parent=parent, provider=provider, **extra)


def notification_topic(name: str, addresses: list[str], provider: aws.Provider, parent: pulumi.Resource) -> aws.sns.Topic:
    """An SNS topic with an e-mail subscription per address (each confirms once by e-mail)."""
    topic = aws.sns.Topic(name, name=f"daktela-{name}", opts=pulumi.ResourceOptions(parent=parent, provider=provider))
    for index, address in enumerate(addresses):
        aws.sns.TopicSubscription(
            f"{name}-{index}", topic=topic.arn, protocol="email", endpoint=address,
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )
    return topic
