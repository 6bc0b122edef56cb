"""Each function's role grants what its code calls, and nothing else.

The demo (``vpn-doctor demo --remediate auto``) runs the real handlers against the embedded emulator; every AWS
call a handler makes is recorded (a botocore ``before-parameter-build`` hook on every boto3 session) and attributed
to the handler being invoked. The calls become IAM actions, which are compared with the synthesized role of the
function that runs that handler: a granted action no call needs fails the test, and so does a call its role does
not grant. The Lambda platform's own use of the role (its log group, its on-failure queue, X-Ray) and the
permissions AWS documents a call to need beyond its own action are accounted for below, each with its page.
"""

from __future__ import annotations

import contextvars
import io
import multiprocessing
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pytest

from tests.infra.cfn import as_list, function, has_function, resources, role_statements
from tests.infra.conftest import Synth

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

# What a call needs besides its own action.
IMPLIED_BY = {
    # Publishing to an SSE-KMS topic: https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html
    "sns:Publish": {"kms:GenerateDataKey*", "kms:Decrypt"},
    # Scheduler assumes the schedule's execution role, which the caller passes:
    # https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
    "scheduler:CreateSchedule": {"iam:PassRole"},
}

# The Lambda service's own use of the execution role, never a call of our code: active tracing
# (https://docs.aws.amazon.com/lambda/latest/dg/services-xray.html). Writing the function's log group
# (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs.html) and sending failed asynchronous
# invocations to its on-failure queue (https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html)
# are recognised by resource: the function's own log group and queue.
PLATFORM_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

# Granted for a path the demo does not take; each entry says which. An entry the demo does exercise must go
# (the test says so), so this list only shrinks as the demo grows.
_TUNNEL_NOT_NAMED = "Health and connection-level events name no tunnel, so the connection is read (not in the demo)"
_IDEMPOTENCY = "Powertools idempotency reads the record of a duplicate alert, deletes its own after a failed send"
NOT_EXERCISED_BY_THE_DEMO: dict[tuple[str, str], str] = {
    ("state", "ec2:DescribeVpnConnections"): _TUNNEL_NOT_NAMED,
    ("state", "ec2:DescribeCustomerGateways"): _TUNNEL_NOT_NAMED,
    ("poller", "logs:FilterLogEvents"): "a DOWN the poller sees first is explained from the tunnel's logs",
    ("poller", "cloudwatch:GetMetricData"): "silence detection (silence_minutes > 0; off in the demo)",
    ("respond", "cloudwatch:GetMetricData"): "the diagnosis's traffic check (TunnelDataIn/Out)",
    ("notify", "dynamodb:GetItem"): _IDEMPOTENCY,
    ("notify", "dynamodb:DeleteItem"): _IDEMPOTENCY,
    ("notify", "sqs:SendMessage"): "a Slack message still failing after retries (the demo's receiver takes every post)",
    ("post_check", "events:PutEvents"): "an escalation: a modified tunnel not back UP (in the demo every one recovers)",
}

_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)


def iam_actions(operation: Any, params: Mapping[str, Any]) -> set[str]:
    """The IAM actions one API call is authorised by."""
    prefix = operation.service_model.endpoint_prefix
    if operation.name == "TransactWriteItems":
        return {TRANSACT_ITEM_ACTIONS[kind] for item in params["TransactItems"] for kind in item}
    return {f"{IAM_PREFIX.get(prefix, prefix)}:{operation.name}"}


def record_demo_calls() -> tuple[int, dict[str, set[str]]]:
    """Run the demo (auto remediation) and return its exit code and the IAM actions each handler's calls need.

    Runs in a fresh interpreter (see the fixture): handlers keep their clients for the process's life, and only
    sessions created after the hook is installed report their calls.
    """
    import boto3  # noqa: PLC0415 - imported in the worker process only

    from vpn_doctor_tools.demo import runner  # noqa: PLC0415

    used: dict[str, set[str]] = {}

    def record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        stage = _stage.get()  # None for the demo's own calls, and in moto's server thread
        if stage is not None:
            used.setdefault(stage, set()).update(iam_actions(model, params))

    original_init = boto3.session.Session.__init__

    def hooked_init(self: boto3.session.Session, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.events.register("before-parameter-build", record)

    def attributed(stage: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        def invoke(event: Any, context: Any) -> Any:
            token = _stage.set(stage)
            try:
                return handler(event, context)
            finally:
                _stage.reset(token)

        return invoke

    load_handlers = runner.load_handlers

    def load_attributed() -> dict[str, Any]:
        return {
            stage: None if handler is None else attributed(stage, handler) for stage, handler in load_handlers().items()
        }

    boto3.session.Session.__init__ = hooked_init  # type: ignore[method-assign]
    runner.load_handlers = load_attributed  # type: ignore[assignment]
    code = runner.run_demo(out=io.StringIO(), json_lines=True, remediate="auto")
    return code, used


@pytest.fixture(scope="module")
def demo_calls() -> dict[str, set[str]]:
    """IAM actions per handler module while the demo ran (in a spawned interpreter, so nothing is cached)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        code, used = pool.apply(record_demo_calls)
    assert code == 0, "the demo's own checks failed"
    return used


def _referenced_ids(value: Any) -> Iterator[str]:
    """Logical ids a CloudFormation expression refers to (Ref, Fn::GetAtt), at any depth."""
    if isinstance(value, dict):
        if "Ref" in value:
            yield value["Ref"]
        if "Fn::GetAtt" in value:
            yield value["Fn::GetAtt"][0]
        for inner in value.values():
            yield from _referenced_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _referenced_ids(inner)


def platform_resources(template: Mapping[str, Any], module: str) -> set[str]:
    """Logical ids of what the Lambda service writes with the role: the log group, the on-failure queue."""
    function_id, props = function(template, module)
    owned = {props["LoggingConfig"]["LogGroup"]["Ref"]}
    for config in resources(template, "AWS::Lambda::EventInvokeConfig").values():
        if config["Properties"]["FunctionName"] == {"Ref": function_id}:
            owned |= set(_referenced_ids(config["Properties"]["DestinationConfig"]))
    return owned


def granted_actions(template: Mapping[str, Any], module: str) -> set[str]:
    """Actions the function's role allows for its code: the platform's own (by resource or action) left out."""
    _, props = function(template, module)
    platform = platform_resources(template, module)
    granted: set[str] = set()
    for statement in role_statements(template, props["Role"]["Fn::GetAtt"][0]):
        if statement["Effect"] != "Allow":
            continue
        for_code = [r for r in as_list(statement["Resource"]) if not set(_referenced_ids(r)) & platform]
        if for_code:
            granted |= set(as_list(statement["Action"])) - PLATFORM_ACTIONS
    return granted


def modules(template: Mapping[str, Any]) -> list[str]:
    """Handler modules of the template's functions (``handlers.<module>.handler``)."""
    return sorted(
        props["Properties"]["Handler"].split(".")[1] for props in resources(template, "AWS::Lambda::Function").values()
    )


def test_the_demo_runs_every_function_of_the_stack(full_synth: Synth, demo_calls: dict[str, set[str]]) -> None:
    assert set(modules(full_synth.templates["VpnDoctor"])) <= set(demo_calls)


def test_every_call_a_function_makes_is_granted_to_its_role(full_synth: Synth, demo_calls: dict[str, set[str]]) -> None:
    template = full_synth.templates["VpnDoctor"]
    missing = {
        module: sorted(demo_calls.get(module, set()) - granted_actions(template, module))
        for module in modules(template)
    }
    assert {module: actions for module, actions in missing.items() if actions} == {}


def test_every_action_a_role_grants_is_used_by_its_function(full_synth: Synth, demo_calls: dict[str, set[str]]) -> None:
    template = full_synth.templates["VpnDoctor"]
    unused: dict[str, list[str]] = {}
    for module in modules(template):
        used = demo_calls.get(module, set())
        implied = {action for call in used for action in IMPLIED_BY.get(call, ())}
        known = {action for (owner, action) in NOT_EXERCISED_BY_THE_DEMO if owner == module}
        extra = granted_actions(template, module) - used - implied - known
        if extra:
            unused[module] = sorted(extra)
    assert unused == {}


def test_grants_listed_as_not_exercised_are_granted_and_not_exercised(
    full_synth: Synth, demo_calls: dict[str, set[str]]
) -> None:
    template = full_synth.templates["VpnDoctor"]
    for module, action in NOT_EXERCISED_BY_THE_DEMO:
        assert has_function(template, module)
        assert action in granted_actions(template, module), (module, action)
        assert action not in demo_calls.get(module, set()), f"the demo now exercises {module} {action}: unlist it"
