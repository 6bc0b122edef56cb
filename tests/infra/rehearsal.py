"""Deploy rehearsal helpers: a template as moto's CloudFormation can create it, and a schema check of the rest.

moto's CloudFormation creates the resource types it models. For the others (alarms, subscription filters, topic and
queue policies, subscriptions, event invoke configs) the rehearsal does what CloudFormation's resource provider would
check first: it resolves the resource's intrinsic functions against what moto created (a reference to a resource
that does not exist, or an attribute its type does not have, fails) and validates the resolved properties against
the type's CloudFormation resource schema, the one cfn-lint ships (jsonschema, draft 7). A modelled resource that
refers to an unmodelled one (the dashboard's alarm widget) gets the value that resource's attribute would have.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER
from moto.cloudformation.parsing import NULL_MODELS, get_model_map

ACCOUNT = "123456789012"  # moto's default account
POWERTOOLS_LAYER = "arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:99"


def modelled_by_moto(resource_type: str) -> bool:
    """Whether moto's CloudFormation creates this resource type."""
    return resource_type in get_model_map() or resource_type in NULL_MODELS


def schema(resource_type: str, region: str) -> dict[str, Any]:
    """CloudFormation's resource schema of a type (as cfn-lint ships it for the region)."""
    found: dict[str, Any] = PROVIDER_SCHEMA_MANAGER.get_resource_schema(region, resource_type).schema
    return found


def _arn(service: str, region: str, resource: str) -> str:
    return f"arn:aws:{service}:{region}:{ACCOUNT}:{resource}"


# The value of Fn::GetAtt [resource, attribute] from the resource's physical id (what Ref returns), per type: the
# documented return values of the CloudFormation template reference.
_ATTRIBUTES: Mapping[tuple[str, str], Any] = {
    ("AWS::Lambda::Function", "Arn"): lambda r, p: _arn("lambda", r, f"function:{p}"),
    ("AWS::SQS::Queue", "Arn"): lambda r, p: _arn("sqs", r, p.rsplit("/", 1)[-1]),
    ("AWS::SQS::Queue", "QueueName"): lambda r, p: p.rsplit("/", 1)[-1],
    ("AWS::SNS::Topic", "TopicArn"): lambda r, p: p,
    ("AWS::SNS::Topic", "TopicName"): lambda r, p: p.rsplit(":", 1)[-1],
    ("AWS::KMS::Key", "Arn"): lambda r, p: _arn("kms", r, f"key/{p}"),
    ("AWS::Logs::LogGroup", "Arn"): lambda r, p: _arn("logs", r, f"log-group:{p}:*"),
    ("AWS::IAM::Role", "Arn"): lambda r, p: f"arn:aws:iam::{ACCOUNT}:role/{p}",
    ("AWS::DynamoDB::Table", "Arn"): lambda r, p: _arn("dynamodb", r, f"table/{p}"),
    ("AWS::Events::EventBus", "Arn"): lambda r, p: _arn("events", r, f"event-bus/{p}"),
    ("AWS::Events::EventBus", "Name"): lambda r, p: p,
    ("AWS::Events::Rule", "Arn"): lambda r, p: _arn("events", r, f"rule/{p}"),
    ("AWS::CloudWatch::Alarm", "Arn"): lambda r, p: _arn("cloudwatch", r, f"alarm:{p}"),
}


class UnresolvedReference(AssertionError):
    """A template refers to something that does not exist or that the rehearsal cannot resolve."""


@dataclass
class Resolver:
    """Resolves intrinsic functions with the physical ids of created resources (``physical``) and the template."""

    template: Mapping[str, Any]
    region: str
    stack_name: str
    physical: dict[str, str] = field(default_factory=dict)
    parameters: dict[str, str] = field(default_factory=dict)

    def physical_id(self, logical: str) -> str:
        """What Ref returns: moto's physical id, or the name CloudFormation would give a resource not created."""
        if logical in self.physical:
            return self.physical[logical]
        if logical not in self.template["Resources"]:
            raise UnresolvedReference(f"Ref to {logical}, which is not in the template")
        return f"{self.stack_name}-{logical}"

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        return self.physical_id(name)

    def get_att(self, logical: str, attribute: str) -> Any:
        resources = self.template["Resources"]
        if logical not in resources:
            raise UnresolvedReference(f"Fn::GetAtt of {logical}, which is not in the template")
        resource_type = resources[logical]["Type"]
        readable = {
            path.removeprefix("/properties/")
            for path in schema(resource_type, self.region).get("readOnlyProperties", [])
        }
        if attribute not in readable and (resource_type, attribute) not in _ATTRIBUTES:
            raise UnresolvedReference(f"{resource_type} has no attribute {attribute} (Fn::GetAtt of {logical})")
        reader = _ATTRIBUTES.get((resource_type, attribute))
        if reader is None:
            raise UnresolvedReference(
                f"the rehearsal cannot compute {resource_type}.{attribute}: add it to _ATTRIBUTES"
            )
        return reader(self.region, self.physical_id(logical))

    def resolve(self, node: Any) -> Any:
        """The fragment with every intrinsic function replaced by its value."""
        if isinstance(node, list):
            return [self.resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return self.ref(value)
            if key == "Fn::GetAtt":
                logical, attribute = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(logical, attribute)
            if key == "Fn::Join":
                separator, parts = value
                return separator.join(str(part) for part in self.resolve(parts))
            if key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                values = {name: self.resolve(v) for name, v in variables.items()}

                def substitute(match: re.Match[str]) -> str:
                    name = match.group(1)
                    if name in values:
                        return str(values[name])
                    if "." in name:
                        return str(self.get_att(*name.split(".", 1)))
                    return self.ref(name)

                return re.sub(r"\$\{([^}!]+)\}", substitute, text)
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                separator, text = value
                return str(self.resolve(text)).split(separator)
            if key.startswith("Fn::") or key == "Condition":
                raise UnresolvedReference(f"the rehearsal does not resolve {key}")
        return {key: self.resolve(value) for key, value in node.items()}


def schema_errors(resource_type: str, properties: Mapping[str, Any], region: str) -> list[str]:
    """Where the resolved properties break the type's CloudFormation resource schema (empty: none)."""
    type_schema = dict(schema(resource_type, region))
    read_only = {path.removeprefix("/properties/") for path in type_schema.get("readOnlyProperties", [])}
    errors = [f"{name}: read-only, cannot be set" for name in properties if name in read_only]
    validator = jsonschema.Draft7Validator(type_schema)
    errors += [
        f"{'/'.join(map(str, error.absolute_path)) or '(properties)'}: {error.message}"
        for error in validator.iter_errors(json.loads(json.dumps(properties)))
    ]
    return errors


def prepare(template: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The template as the rehearsal deploys it: no bootstrap version rule (it reads the bootstrapped account's SSM
    parameter), and the Powertools layer's public SSM parameter (a reserved /aws/ name moto will not create) given
    the value it holds in a real region."""
    prepared = json.loads(json.dumps(template))
    prepared.pop("Rules", None)
    prepared.get("Parameters", {}).pop("BootstrapVersion", None)
    for parameter in prepared.get("Parameters", {}).values():
        if parameter.get("Type") == "AWS::SSM::Parameter::Value<String>":
            parameter["Type"] = "String"
            parameter["Default"] = POWERTOOLS_LAYER.format(region=region)
    return prepared


def split(
    template: Mapping[str, Any], region: str, stack_name: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(what moto creates, what is schema-checked instead): the unmodelled resources leave the template, and the
    references modelled ones make to them are replaced by the values they would have."""
    created = json.loads(json.dumps(template))
    resources = created["Resources"]
    unmodelled = {
        key: resources.pop(key) for key in [k for k, r in resources.items() if not modelled_by_moto(r["Type"])]
    }
    placeholders = Resolver({"Resources": {**resources, **unmodelled}}, region, stack_name)

    def replace(node: Any) -> Any:
        if isinstance(node, list):
            return [replace(item) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"} and node["Ref"] in unmodelled:
            return placeholders.resolve(node)
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"][0] if isinstance(node["Fn::GetAtt"], list) else node["Fn::GetAtt"].split(".")[0]
            if target in unmodelled:
                return placeholders.resolve(node)
        return {key: replace(value) for key, value in node.items()}

    for key, original in list(resources.items()):
        resource = replace(original)
        depends = resource.get("DependsOn")
        if depends is not None:
            kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d not in unmodelled]
            resource["DependsOn"] = kept
            if not kept:
                del resource["DependsOn"]
        resources[key] = resource
    created["Outputs"] = replace(created.get("Outputs", {}))
    return created, unmodelled
