"""Acknowledging a cdk-nag (v3) finding: through CDK's own Validations API, always with the reason in code."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

# cdk-nag 3 registers its findings under the plugin name, e.g. "AwsSolutions::AwsSolutions-SQS3".
PACK = "AwsSolutions"


def acknowledge(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge ``rule`` (e.g. ``AwsSolutions-IAM5[Resource::*]``) on ``construct`` and everything below it."""
    Validations.of(construct).acknowledge(Acknowledgment(id=f"{PACK}::{rule}", reason=reason))


def nag_arn(service: str, resource: str) -> str:
    """An ARN in this stack's partition/region/account as cdk-nag prints it in finding ids."""
    return f"arn:<AWS::Partition>:{service}:<AWS::Region>:<AWS::AccountId>:{resource}"
