"""Small readers of synthesized CloudFormation: functions by handler, the IAM statements of a role."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

Template = Mapping[str, Any]


def resources(template: Template, resource_type: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for one CloudFormation type."""
    return {key: value for key, value in template["Resources"].items() if value["Type"] == resource_type}


def function(template: Template, module: str) -> tuple[str, dict[str, Any]]:
    """The (logical id, Properties) of the Lambda function whose handler is ``handlers.<module>.handler``."""
    found = [
        (key, value["Properties"])
        for key, value in resources(template, "AWS::Lambda::Function").items()
        if value["Properties"].get("Handler") == f"handlers.{module}.handler"
    ]
    assert len(found) == 1, f"expected one {module} function, found {len(found)}"
    return found[0]


def has_function(template: Template, module: str) -> bool:
    """Whether a function with the ``handlers.<module>.handler`` handler exists."""
    return any(
        value["Properties"].get("Handler") == f"handlers.{module}.handler"
        for value in resources(template, "AWS::Lambda::Function").values()
    )


def as_list(value: Any) -> list[Any]:
    """IAM allows a string or a list almost everywhere."""
    return value if isinstance(value, list) else [value]


def role_statements(template: Template, role_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to one role."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for policy in resources(template, "AWS::IAM::Role")[role_id]["Properties"].get("Policies", []):
        statements += policy["PolicyDocument"]["Statement"]
    return statements


def function_statements(template: Template, module: str) -> list[dict[str, Any]]:
    """The IAM statements of a function's role."""
    _, props = function(template, module)
    return role_statements(template, props["Role"]["Fn::GetAtt"][0])


def allows(statements: list[dict[str, Any]], action: str, resource: Any) -> bool:
    """Whether an unconditioned Allow statement grants ``action`` on ``resource``.

    Asks about the grant, not the statement's shape: @aws-cdk/aws-iam:minimizePolicies merges statements
    with the same actions (or resources) into one, with sorted action and resource lists.
    """
    return any(
        st["Effect"] == "Allow"
        and "Condition" not in st
        and action in as_list(st["Action"])
        and resource in as_list(st["Resource"])
        for st in statements
    )


def actions_of(statements: list[dict[str, Any]]) -> set[str]:
    """All actions the statements allow."""
    return {action for st in statements if st["Effect"] == "Allow" for action in as_list(st["Action"])}


def all_statements(template: Template) -> Iterator[dict[str, Any]]:
    """Every identity-policy statement in the template (inline policies and role policies)."""
    for policy in resources(template, "AWS::IAM::Policy").values():
        yield from policy["Properties"]["PolicyDocument"]["Statement"]
    for role in resources(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            yield from policy["PolicyDocument"]["Statement"]
