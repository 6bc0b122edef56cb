"""Everything the stack wires together may actually deliver: the receiving resource's policy allows the sender.

For every alarm action, EventBridge rule target (and its dead-letter queue), subscription filter destination,
SNS subscription and Lambda on-failure destination in each synthesized stack, the request AWS makes is built (the
service principal or role that sends, the action, the receiving ARN, and the context AWS sends with it:
``aws:SourceArn`` / ``aws:SourceAccount`` for a service acting for a resource,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcearn,
``aws:SecureTransport`` as services call each other over TLS) and evaluated (tests/infra/iam) against the receiver's
policy: the topic policy, the queue policy, the Lambda function's permissions, and, for an encrypted topic or queue,
the key policy of its KMS key (a service principal publishing to an SSE-KMS topic needs kms:GenerateDataKey* and
kms:Decrypt on the key: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
A sender acting through a role (a rule with RoleArn, a Lambda destination) needs its role's trust and identity
policies instead. A delivery this contract cannot model fails it, so a new kind of wiring is added here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from stacks.remediation import SCHEDULE_GROUP
from tests.infra.conftest import ACCOUNT, REGION, Synth
from tests.infra.iam.evaluator import ContextValue, Decision, Principal, Request, evaluate
from tests.infra.iam.receivers import encryption_key, logical_id_with_arn, resource_statements
from tests.infra.iam.template import StackTemplate, stack_templates
from vpn_doctor.constants import ENV_POST_CHECK_ROLE_ARN, ENV_POST_CHECK_TARGET_ARN

pytestmark = pytest.mark.infra

# SNS subscription protocols whose endpoint has no resource policy to consult (SNS delivers itself).
POLICY_FREE_PROTOCOLS = {"email", "email-json", "http", "https", "sms"}
# The action a sender needs on each kind of receiving resource, by the ARN's service.
ACTION_BY_SERVICE = {
    "sns": "sns:Publish",
    "sqs": "sqs:SendMessage",
    "lambda": "lambda:InvokeFunction",
    "events": "events:PutEvents",
}
KMS_ACTIONS = ("kms:GenerateDataKey", "kms:Decrypt")


@dataclass(frozen=True)
class Delivery:
    """One request AWS makes to deliver something the template wires up."""

    origin: str  # for the failure message
    principal: Principal
    target: str  # the receiving ARN
    context: dict[str, ContextValue] = field(default_factory=dict)
    role_id: str | None = None  # the sender's role in the template, when it acts through one
    assumed_by: str | None = None  # the service that assumes that role


def _service_context(stack: StackTemplate, source_arn: str) -> dict[str, ContextValue]:
    return {"aws:SourceArn": source_arn, "aws:SourceAccount": stack.account, "aws:SecureTransport": True}


def _service(arn: str) -> str:
    return arn.split(":")[2]


def alarm_deliveries(stack: StackTemplate) -> Iterator[Delivery]:
    """Alarm actions: CloudWatch publishes as cloudwatch.amazonaws.com for the alarm (aws:SourceArn = the alarm,
    https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger)."""
    for alarm_id, alarm in stack.of_type("AWS::CloudWatch::Alarm").items():
        props = alarm["Properties"]
        alarm_arn = stack.get_att(alarm_id, "Arn")
        for kind in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            for action in props.get(kind, []):
                yield Delivery(
                    f"alarm {alarm_id} {kind}",
                    Principal("Service", "cloudwatch.amazonaws.com"),
                    stack.resolve(action),
                    _service_context(stack, alarm_arn),
                )


def rule_deliveries(stack: StackTemplate) -> Iterator[Delivery]:
    """Rule targets and their dead-letter queues: EventBridge sends for the rule (aws:SourceArn = the rule,
    https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html), or as the target's role."""
    for rule_id, rule in stack.of_type("AWS::Events::Rule").items():
        rule_arn = stack.get_att(rule_id, "Arn")
        events = Principal("Service", "events.amazonaws.com")
        for target in rule["Properties"].get("Targets", []):
            arn = stack.resolve(target["Arn"])
            context = _service_context(stack, rule_arn)
            if "RoleArn" in target:
                role_arn = stack.resolve(target["RoleArn"])
                role_id = stack.role_id_for_arn(role_arn)
                yield Delivery(
                    f"rule {rule_id} target {target['Id']}",
                    Principal("AWS", role_arn),
                    arn,
                    context,
                    role_id,
                    "events.amazonaws.com",
                )
            else:
                yield Delivery(f"rule {rule_id} target {target['Id']}", events, arn, context)
            if "DeadLetterConfig" in target:
                dead_letter = stack.resolve(target["DeadLetterConfig"]["Arn"])
                yield Delivery(f"rule {rule_id} dead-letter queue", events, dead_letter, context)


def subscription_filter_deliveries(stack: StackTemplate) -> Iterator[Delivery]:
    """Subscription filters: CloudWatch Logs invokes the destination for the log group
    (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html#LambdaFunctionExample)."""
    for filter_id, subscription in stack.of_type("AWS::Logs::SubscriptionFilter").items():
        props = subscription["Properties"]
        group = stack.arn("logs", f"log-group:{stack.resolve(props['LogGroupName'])}:*")
        if "RoleArn" in props:
            raise AssertionError(f"{filter_id}: a subscription filter with a role is not modelled")
        yield Delivery(
            f"subscription filter {filter_id}",
            Principal("Service", "logs.amazonaws.com"),
            stack.resolve(props["DestinationArn"]),
            _service_context(stack, group),
        )


def topic_subscription_deliveries(stack: StackTemplate) -> Iterator[Delivery]:
    """SNS subscriptions to queues and functions: SNS sends for the topic (aws:SourceArn = the topic)."""
    for subscription_id, subscription in stack.of_type("AWS::SNS::Subscription").items():
        props = subscription["Properties"]
        if props["Protocol"] in POLICY_FREE_PROTOCOLS:
            continue
        if props["Protocol"] not in ("sqs", "lambda"):
            raise AssertionError(f"{subscription_id}: protocol {props['Protocol']} is not modelled")
        topic = stack.resolve(props["TopicArn"])
        yield Delivery(
            f"subscription {subscription_id}",
            Principal("Service", "sns.amazonaws.com"),
            stack.resolve(props["Endpoint"]),
            _service_context(stack, topic),
        )


def destination_deliveries(stack: StackTemplate) -> Iterator[Delivery]:
    """Lambda's asynchronous-invocation destinations are sent with the function's execution role
    (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)."""
    for config_id, config in stack.of_type("AWS::Lambda::EventInvokeConfig").items():
        function_ref = config["Properties"]["FunctionName"]["Ref"]
        role_id = stack.resources[function_ref]["Properties"]["Role"]["Fn::GetAtt"][0]
        role_arn = stack.get_att(role_id, "Arn")
        for kind, destination in config["Properties"].get("DestinationConfig", {}).items():
            yield Delivery(
                f"{config_id} {kind}",
                Principal("AWS", role_arn),
                stack.resolve(destination["Destination"]),
                {"aws:SecureTransport": True},
                role_id,
                "lambda.amazonaws.com",
            )


def schedule_deliveries(stack: StackTemplate) -> Iterator[Delivery]:
    """The one-time schedules a function creates at run time: EventBridge Scheduler assumes the role the function
    is told to pass and invokes the target it is told to name (for the schedule group: aws:SourceArn,
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role)."""
    for function in stack.of_type("AWS::Lambda::Function").values():
        variables = function["Properties"].get("Environment", {}).get("Variables", {})
        if ENV_POST_CHECK_ROLE_ARN not in variables:
            continue
        role_arn = stack.resolve(variables[ENV_POST_CHECK_ROLE_ARN])
        group = stack.arn("scheduler", f"schedule-group/{SCHEDULE_GROUP}")
        yield Delivery(
            f"schedules of {function['Properties']['Handler']}",
            Principal("AWS", role_arn),
            stack.resolve(variables[ENV_POST_CHECK_TARGET_ARN]),
            _service_context(stack, group),
            stack.role_id_for_arn(role_arn),
            "scheduler.amazonaws.com",
        )


def deliveries(stack: StackTemplate) -> list[Delivery]:
    """Every delivery the stack wires up."""
    return [
        *alarm_deliveries(stack),
        *rule_deliveries(stack),
        *subscription_filter_deliveries(stack),
        *topic_subscription_deliveries(stack),
        *destination_deliveries(stack),
        *schedule_deliveries(stack),
    ]


# --- the receivers ------------------------------------------------------------------------------


def check(stack: StackTemplate, delivery: Delivery) -> list[str]:
    """Why the delivery would be refused (empty: allowed)."""
    target_id = logical_id_with_arn(stack, delivery.target)
    service = _service(delivery.target)
    action = ACTION_BY_SERVICE.get(service)
    if action is None:
        return [f"{delivery.origin}: delivering to {delivery.target} is not modelled"]
    receiving = [] if target_id is None else resource_statements(stack, target_id)
    if target_id is None and delivery.role_id is None:
        return [f"{delivery.origin}: {delivery.target} is not in this stack, so its policy cannot be read"]
    problems = []
    if delivery.role_id is not None:
        if delivery.principal.identifier != stack.get_att(delivery.role_id, "Arn"):
            return [f"{delivery.origin}: the role is not this stack's"]
        trusted = stack.trust_statements(delivery.role_id)
        assert delivery.assumed_by is not None, delivery
        assume = Request(
            "sts:AssumeRole",
            stack.get_att(delivery.role_id, "Arn"),
            delivery.context,
            Principal("Service", delivery.assumed_by),
        )
        if evaluate(trusted, assume) is not Decision.ALLOW:
            problems.append(f"{delivery.origin}: {delivery.assumed_by} may not assume {delivery.role_id}")
        # Within one account the role's identity policies and the receiver's policy together decide.
        statements = stack.identity_statements(delivery.role_id) + receiving
    else:
        statements = receiving
    decision = evaluate(statements, Request(action, delivery.target, delivery.context, delivery.principal))
    if decision is not Decision.ALLOW:
        problems.append(
            f"{delivery.origin}: {action} on {delivery.target} by {delivery.principal.identifier}: {decision.value}"
        )
    key_id = None if target_id is None else encryption_key(stack, target_id)
    if key_id is not None:
        key_arn = stack.get_att(key_id, "Arn")
        key_policy = resource_statements(stack, key_id)
        for kms_action in KMS_ACTIONS:
            request = Request(kms_action, key_arn, delivery.context, delivery.principal)
            allowed = evaluate(key_policy, request) is Decision.ALLOW
            if allowed and delivery.role_id is not None:
                # The key policy's account-root statement delegates to IAM: the role must allow it too.
                allowed = evaluate(stack.identity_statements(delivery.role_id), request) is Decision.ALLOW
            if not allowed:
                problems.append(
                    f"{delivery.origin}: {kms_action} on the key {key_id} by {delivery.principal.identifier}"
                )
    return problems


def stacks(synth: Synth) -> list[StackTemplate]:
    """The synth's stacks, environment-agnostic ones placed in the rehearsal's account and region."""
    return stack_templates(synth.directory, synth.templates, account=ACCOUNT, region=REGION)


def test_every_alarm_action_rule_target_subscription_and_destination_is_allowed_by_its_receiver(
    all_synths: tuple[Synth, ...],
) -> None:
    refused = {
        f"{synth.config_name}/{stack.name}": problems
        for synth in all_synths
        for stack in stacks(synth)
        if (problems := [problem for delivery in deliveries(stack) for problem in check(stack, delivery)])
    }
    assert refused == {}


def test_the_contract_sees_every_kind_of_delivery_the_full_stack_wires(full_synth: Synth) -> None:
    main = next(stack for stack in stacks(full_synth) if stack.name == "VpnDoctor")
    seen = {
        "alarm": list(alarm_deliveries(main)),
        "rule": list(rule_deliveries(main)),
        "subscription filter": list(subscription_filter_deliveries(main)),
        "destination": list(destination_deliveries(main)),
        "schedule": list(schedule_deliveries(main)),
    }
    assert {kind: bool(found) for kind, found in seen.items()} == dict.fromkeys(seen, True)
    # Every alarm with an action is counted, and each publishes to the alert topic.
    topic = main.resolve({"Ref": next(iter(main.of_type("AWS::SNS::Topic")))})
    assert {delivery.target for delivery in seen["alarm"]} == {topic}


def test_a_topic_policy_without_an_allow_for_alarms_is_refused() -> None:
    # The contract's own check, on a stack whose topic holds only enforce_ssl's Deny (the defect it guards).
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "Policy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [{"Ref": "Topic"}],
                    "PolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "sns:Publish",
                                "Resource": {"Ref": "Topic"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ]
                    },
                },
            },
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [{"Ref": "Topic"}]}},
        }
    }
    stack = StackTemplate("Test", template, ACCOUNT, REGION)
    (delivery,) = deliveries(stack)
    assert check(stack, delivery) == [
        f"alarm Alarm AlarmActions: sns:Publish on arn:aws:sns:{REGION}:{ACCOUNT}:Topic by cloudwatch.amazonaws.com: "
        "implicit deny"
    ]
