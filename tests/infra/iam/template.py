"""Synthesized CloudFormation, resolved the way a deploy in the rehearsal's account and region would resolve it.

Intrinsic functions (``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Sub``, ``Fn::Select``, ``Fn::Split``) become the
names and ARNs the resources would get; a resource CloudFormation names itself gets its logical id as its name (the
real name is random, and only equality between references matters here). Return values follow each resource
type's "Return values" section of the CloudFormation reference; a type or attribute not listed raises, so a new
kind of reference is added here rather than guessed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.cfn import as_list

# The property holding the name a template gives a resource (CloudFormation names it when absent).
NAME_PROPERTY = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Rule": "Name",
    "AWS::IAM::Role": "RoleName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::CloudWatch::Alarm": "AlarmName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::S3::Bucket": "BucketName",
}


@dataclass(frozen=True)
class StackTemplate:
    """One stack's template and the environment it deploys to."""

    name: str
    template: Mapping[str, Any]
    account: str
    region: str
    partition: str = "aws"

    @property
    def resources(self) -> Mapping[str, Mapping[str, Any]]:
        """Logical id -> resource."""
        resources: Mapping[str, Mapping[str, Any]] = self.template["Resources"]
        return resources

    def of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        """Logical id -> resource, for one type."""
        return {key: value for key, value in self.resources.items() if value["Type"] == resource_type}

    def name_of(self, logical_id: str) -> str:
        """The physical name of a resource."""
        resource = self.resources[logical_id]
        prop = NAME_PROPERTY.get(resource["Type"])
        if prop and prop in resource.get("Properties", {}):
            return str(self.resolve(resource["Properties"][prop]))
        return logical_id

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        """An ARN in this stack's partition, region and account."""
        return (
            f"arn:{self.partition}:{service}:{self.region if region else ''}:{self.account if account else ''}:"
            f"{resource}"
        )

    def ref(self, logical_id: str) -> str:
        """What ``Ref`` returns."""
        pseudo = {
            "AWS::AccountId": self.account,
            "AWS::Region": self.region,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.name,
        }
        if logical_id in pseudo:
            return pseudo[logical_id]
        kind = self.resources[logical_id]["Type"]
        name = self.name_of(logical_id)
        if kind == "AWS::SNS::Topic":
            return self.arn("sns", name)
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{self.region}.amazonaws.com/{self.account}/{name}"
        if kind == "AWS::KMS::Key":
            return logical_id  # the key id
        return name

    def get_att(self, logical_id: str, attribute: str) -> str:
        """What ``Fn::GetAtt`` returns (the ARN attributes this project's templates use)."""
        kind = self.resources[logical_id]["Type"]
        name = self.name_of(logical_id)
        arns = {
            "AWS::SNS::Topic": ("TopicArn", lambda: self.arn("sns", name)),
            "AWS::SQS::Queue": ("Arn", lambda: self.arn("sqs", name)),
            "AWS::KMS::Key": ("Arn", lambda: self.arn("kms", f"key/{logical_id}")),
            "AWS::IAM::Role": ("Arn", lambda: self.arn("iam", f"role/{name}", region=False)),
            "AWS::Lambda::Function": ("Arn", lambda: self.arn("lambda", f"function:{name}")),
            "AWS::DynamoDB::Table": ("Arn", lambda: self.arn("dynamodb", f"table/{name}")),
            # The log group's Arn attribute ends in ":*" (AWS::Logs::LogGroup, Return values).
            "AWS::Logs::LogGroup": ("Arn", lambda: self.arn("logs", f"log-group:{name}:*")),
            "AWS::Events::EventBus": ("Arn", lambda: self.arn("events", f"event-bus/{name}")),
            "AWS::Events::Rule": ("Arn", lambda: self.arn("events", f"rule/{self._rule_path(logical_id)}")),
            "AWS::CloudWatch::Alarm": ("Arn", lambda: self.arn("cloudwatch", f"alarm:{name}")),
            # Bucket ARNs name neither region nor account (AWS::S3::Bucket, Return values).
            "AWS::S3::Bucket": ("Arn", lambda: f"arn:{self.partition}:s3:::{name}"),
        }
        if kind in arns and attribute in (arns[kind][0], "Arn"):
            return arns[kind][1]()
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.ref(logical_id)
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":
            return name
        raise KeyError(f"Fn::GetAtt {kind}.{attribute} is not modelled")

    def _rule_path(self, logical_id: str) -> str:
        """A rule on a custom bus is ``rule/<bus>/<name>``, on the default bus ``rule/<name>``."""
        bus = self.resources[logical_id]["Properties"].get("EventBusName")
        name = self.name_of(logical_id)
        bus_name = None if bus is None else str(self.resolve(bus)).rsplit("/", 1)[-1]
        return name if bus_name in (None, "default") else f"{bus_name}/{name}"

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function evaluated."""
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((function, argument),) = value.items()
            if function == "Ref":
                return self.ref(argument)
            if function == "Fn::GetAtt":
                logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
                return self.get_att(logical_id, attribute)
            if function == "Fn::Join":
                separator, parts = argument
                return separator.join(str(self.resolve(part)) for part in parts)
            if function == "Fn::Select":
                index, items = argument
                return self.resolve(items)[int(index)]
            if function == "Fn::Split":
                separator, text = argument
                return str(self.resolve(text)).split(separator)
            if function == "Fn::Sub":
                return self._sub(argument)
            if function.startswith("Fn::") or function == "Condition":
                raise KeyError(f"{function} is not modelled")
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        text, variables = (argument, {}) if isinstance(argument, str) else argument

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(self.resolve(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return re.sub(r"\$\{([^!}][^}]*)\}", replace, text)

    # --- policies ------------------------------------------------------------------------------

    def identity_statements(self, role_id: str) -> list[dict[str, Any]]:
        """Every statement of the role's inline and managed policies in the template, resolved."""
        statements: list[dict[str, Any]] = []
        role = self.resources[role_id]["Properties"]
        for policy in role.get("Policies", []):
            statements += as_list(policy["PolicyDocument"]["Statement"])
        for policy in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in policy["Properties"].get("Roles", []):
                statements += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
        for policy_id, policy in self.of_type("AWS::IAM::ManagedPolicy").items():
            attached = {"Ref": role_id} in policy["Properties"].get("Roles", []) or {"Ref": policy_id} in role.get(
                "ManagedPolicyArns", []
            )
            if attached:
                statements += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
        for arn in role.get("ManagedPolicyArns", []):
            resolved = self.resolve(arn)
            if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in self.resources:
                continue  # a managed policy of this template, read above
            raise KeyError(f"managed policy {resolved} is AWS's: not modelled")
        return [self.resolve(statement) for statement in statements]

    def trust_statements(self, role_id: str) -> list[dict[str, Any]]:
        """The role's trust policy, resolved; its statements name no Resource (it is the role), so it is filled in."""
        document = self.resources[role_id]["Properties"]["AssumeRolePolicyDocument"]
        role_arn = self.get_att(role_id, "Arn")
        return [{"Resource": role_arn, **self.resolve(statement)} for statement in as_list(document["Statement"])]

    def role_id_for_arn(self, arn: str) -> str | None:
        """The logical id of the template's role with this ARN."""
        for role_id in self.of_type("AWS::IAM::Role"):
            if self.get_att(role_id, "Arn") == arn:
                return role_id
        return None


def stack_templates(
    directory: Path, templates: Mapping[str, Mapping[str, Any]], *, account: str, region: str
) -> list[StackTemplate]:
    """Each stack with the environment its manifest names (environment-agnostic ones get ``account``/``region``)."""
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    stacks = []
    for artifact in manifest["artifacts"].values():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        name = artifact.get("displayName") or artifact["properties"]["templateFile"].removesuffix(".template.json")
        env_account, env_region = artifact["environment"].removeprefix("aws://").split("/")
        stacks.append(
            StackTemplate(
                name=name,
                template=templates[name],
                account=account if env_account.startswith("unknown") else env_account,
                region=region if env_region.startswith("unknown") else env_region,
            )
        )
    return stacks
