"""The policies of the resources a request reaches: topic, queue and bus policies, a function's permissions, a
key policy; and which key encrypts a topic or queue."""

from __future__ import annotations

from typing import Any

from tests.infra.cfn import as_list
from tests.infra.iam.template import StackTemplate


def logical_id_with_arn(stack: StackTemplate, arn: str) -> str | None:
    """The logical id of the template's resource with this ARN, if any."""
    for logical_id, _resource in stack.resources.items():
        try:
            if stack.get_att(logical_id, "Arn") == arn:
                return logical_id
        except KeyError:
            continue
    return None


def lambda_permission_statements(stack: StackTemplate, function_arn: str) -> list[dict[str, Any]]:
    """A function's resource policy as Lambda builds it from AddPermission (ArnLike AWS:SourceArn, StringEquals
    AWS:SourceAccount: https://docs.aws.amazon.com/lambda/latest/dg/access-control-resource-based.html)."""
    statements = []
    for permission in stack.of_type("AWS::Lambda::Permission").values():
        props = stack.resolve(permission["Properties"])
        if props["FunctionName"] not in (function_arn, function_arn.rsplit(":", 1)[-1]):
            continue
        condition: dict[str, dict[str, str]] = {}
        if "SourceArn" in props:
            condition["ArnLike"] = {"AWS:SourceArn": props["SourceArn"]}
        if "SourceAccount" in props:
            condition["StringEquals"] = {"AWS:SourceAccount": props["SourceAccount"]}
        principal = props["Principal"]
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": principal} if principal.endswith(".amazonaws.com") else {"AWS": principal},
            "Action": props["Action"],
            "Resource": function_arn,
        }
        if condition:
            statement["Condition"] = condition
        statements.append(statement)
    return statements


# Resource types whose policy is a resource of its own: the policy's type and the property naming its targets.
POLICY_RESOURCES = {
    "AWS::SNS::Topic": ("AWS::SNS::TopicPolicy", "Topics"),
    "AWS::SQS::Queue": ("AWS::SQS::QueuePolicy", "Queues"),
    "AWS::Events::EventBus": ("AWS::Events::EventBusPolicy", "EventBusName"),
}


def resource_statements(stack: StackTemplate, target_id: str) -> list[dict[str, Any]]:
    """The resource's own policy, resolved (none: an empty list); a kind of policy not modelled raises."""
    resource = stack.resources[target_id]
    kind = resource["Type"]
    if kind == "AWS::Lambda::Function":
        return lambda_permission_statements(stack, stack.get_att(target_id, "Arn"))
    if kind == "AWS::KMS::Key":
        return [stack.resolve(s) for s in as_list(resource["Properties"]["KeyPolicy"]["Statement"])]
    if kind not in POLICY_RESOURCES:
        if {"ResourcePolicy", "ResourcePolicyDocument", "PolicyDocument"} & set(resource.get("Properties", {})):
            raise KeyError(f"the resource policy of {kind} is not modelled")
        return []
    policy_type, list_key = POLICY_RESOURCES[kind]
    policies = [
        policy["Properties"]["PolicyDocument"]
        for policy in stack.of_type(policy_type).values()
        if {"Ref": target_id} in as_list(policy["Properties"].get(list_key))
    ]
    if kind == "AWS::SNS::Topic" and not policies:
        raise AssertionError(f"topic {target_id} has SNS's default policy: not modelled")
    return [stack.resolve(statement) for document in policies for statement in as_list(document["Statement"])]


def encryption_key(stack: StackTemplate, target_id: str) -> str | None:
    """The logical id of the template's KMS key encrypting a topic or queue (None: none, or SSE-SQS)."""
    props = stack.resources[target_id].get("Properties", {})
    key = props.get("KmsMasterKeyId")
    if key is None:
        return None
    resolved = stack.resolve(key)
    key_id = logical_id_with_arn(stack, resolved) or (resolved if resolved in stack.resources else None)
    if key_id is None:
        # An AWS managed key (alias/aws/sns) cannot be used by service principals at all.
        raise AssertionError(f"{target_id} is encrypted with {resolved}, which no key policy here lets services use")
    return key_id
