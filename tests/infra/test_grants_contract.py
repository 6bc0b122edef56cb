"""Each function's role grants what its code calls, and nothing else.

The demo (``vpn-doctor demo --remediate auto``) runs the real handlers against the embedded emulator; every AWS
call a handler makes is recorded (a botocore ``before-parameter-build`` hook on every boto3 session) and attributed
to the handler being invoked. The calls become IAM actions, which are compared with the synthesized role of the
function that runs that handler: a granted action no call needs fails the test, and so does a call its role does
not grant; and a function reaches only the tables it uses (both tables take the same actions, so the resource
matters there). The Lambda platform's own use of the role (its log group, its on-failure queue, X-Ray) and the
permissions AWS documents a call to need beyond its own action are accounted for below, each with its page.
"""

from __future__ import annotations

import contextvars
import io
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from stacks.onboarding import LOG_DELIVERY_ACTIONS
from tests.infra.cfn import as_list, function, has_function, resources, role_statements
from tests.infra.conftest import Synth

pytestmark = pytest.mark.slow  # the whole demo runs once (about 30 s)

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
    # Switching tunnel logging on: EC2 sets up the log delivery with the caller's credentials
    # (https://docs.aws.amazon.com/vpn/latest/s2svpn/monitoring-logs.html, IAM requirements).
    "ec2:ModifyVpnTunnelOptions": set(LOG_DELIVERY_ACTIONS),
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
    ("notify", "dynamodb:GetItem"): _IDEMPOTENCY,
    ("notify", "dynamodb:DeleteItem"): _IDEMPOTENCY,
    ("notify", "sqs:SendMessage"): "a Slack message still failing after retries (the demo's receiver takes every post)",
    ("post_check", "events:PutEvents"): "an escalation: a modified tunnel not back UP (in the demo every one recovers)",
}

# Functions the demo never runs, each with the test that records its calls and checks them against its role.
NOT_RUN_BY_THE_DEMO: dict[str, str] = {
    "onboard": "scheduled on-boarding would change the demo's tunnels under its scenarios; its calls are recorded "
    "and checked against its role in tests/infra/test_onboarding.py",
}

_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)


def iam_actions(operation: Any, params: Mapping[str, Any]) -> set[str]:
    """The IAM actions one API call is authorised by."""
    prefix = operation.service_model.endpoint_prefix
    if operation.name == "TransactWriteItems":
        return {TRANSACT_ITEM_ACTIONS[kind] for item in params["TransactItems"] for kind in item}
    return {f"{IAM_PREFIX.get(prefix, prefix)}:{operation.name}"}


@dataclass
class DemoCalls:
    """What the handlers called while the demo ran, per handler module."""

    exit_code: int = 0
    invoked: set[str] = field(default_factory=set)
    actions: dict[str, set[str]] = field(default_factory=dict)
    # The tables each handler used, by the environment variable that named the table to it.
    tables: dict[str, set[str]] = field(default_factory=dict)


def table_names(params: Mapping[str, Any]) -> set[str]:
    """The tables a DynamoDB request names (a transaction names one per item)."""
    named = {params.get("TableName")} | {
        request.get("TableName") for item in params.get("TransactItems", ()) for request in item.values()
    }
    return {name for name in named if name}


def record_demo_calls() -> DemoCalls:
    """Run the demo (auto remediation) and return what each handler's AWS calls needed.

    Runs in a fresh interpreter (see the fixture): handlers keep their clients for the process's life, and only
    sessions created after the hook is installed report their calls.
    """
    import boto3  # noqa: PLC0415 - imported in the worker process only

    from vpn_doctor_tools.demo import runner  # noqa: PLC0415
    from vpn_doctor_tools.demo.pipeline import Pipeline  # noqa: PLC0415

    calls = DemoCalls()

    def record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        stage = _stage.get()  # None for the demo's own calls, and in moto's server thread
        if stage is None:
            return
        calls.actions.setdefault(stage, set()).update(iam_actions(model, params))
        variables = {value: name for name, value in os.environ.items() if name.startswith("VPN_DOCTOR_")}
        tables = {variables.get(table, table) for table in table_names(params)}
        calls.tables.setdefault(stage, set()).update(tables)

    original_init = boto3.session.Session.__init__

    def hooked_init(self: boto3.session.Session, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.events.register("before-parameter-build", record)

    # The demo invokes every handler through Pipeline.invoke(stage, event), as Lambda would.
    invoke = Pipeline.invoke

    def attributed_invoke(self: Pipeline, stage: str, event: dict[str, Any]) -> Any:
        calls.invoked.add(stage)
        token = _stage.set(stage)
        try:
            return invoke(self, stage, event)
        finally:
            _stage.reset(token)

    boto3.session.Session.__init__ = hooked_init  # type: ignore[method-assign]
    Pipeline.invoke = attributed_invoke  # type: ignore[method-assign]
    calls.exit_code = runner.run_demo(out=io.StringIO(), json_lines=True, remediate="auto")
    return calls


@pytest.fixture(scope="module")
def recorded() -> DemoCalls:
    """The demo's calls (in a spawned interpreter: handlers keep their clients, and nothing here is reused)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        calls: DemoCalls = pool.apply(record_demo_calls)
    assert calls.exit_code == 0, "the demo's own checks failed"
    return calls


@pytest.fixture(scope="module")
def demo_calls(recorded: DemoCalls) -> dict[str, set[str]]:
    """IAM actions per handler module while the demo ran."""
    return recorded.actions


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


def granted_tables(template: Mapping[str, Any], module: str) -> set[str]:
    """The tables the function's role may use, by the environment variable (of any function) naming each."""
    tables = set(resources(template, "AWS::DynamoDB::Table"))
    naming = {
        table: name
        for props in resources(template, "AWS::Lambda::Function").values()
        for name, value in props["Properties"]["Environment"]["Variables"].items()
        for table in set(_referenced_ids(value)) & tables
    }
    _, props = function(template, module)
    return {
        naming.get(table, table)
        for statement in role_statements(template, props["Role"]["Fn::GetAtt"][0])
        if any(action.startswith("dynamodb:") for action in as_list(statement["Action"]))
        for table in set(_referenced_ids(statement["Resource"])) & tables
    }


def modules(template: Mapping[str, Any]) -> list[str]:
    """Handler modules of the template's functions (``handlers.<module>.handler``)."""
    return sorted(
        props["Properties"]["Handler"].split(".")[1] for props in resources(template, "AWS::Lambda::Function").values()
    )


def test_the_demo_runs_every_function_of_the_stack(full_synth: Synth, recorded: DemoCalls) -> None:
    assert set(modules(full_synth.templates["VpnDoctor"])) - recorded.invoked - set(NOT_RUN_BY_THE_DEMO) == set()


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
    for module in set(modules(template)) - set(NOT_RUN_BY_THE_DEMO):
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


def test_each_function_reaches_exactly_the_tables_it_uses(full_synth: Synth, recorded: DemoCalls) -> None:
    template = full_synth.templates["VpnDoctor"]
    ran = set(modules(template)) - set(NOT_RUN_BY_THE_DEMO)
    granted = {module: granted_tables(template, module) for module in ran}
    used = {module: recorded.tables.get(module, set()) for module in ran}
    assert {module: sorted(tables) for module, tables in granted.items()} == {
        module: sorted(tables) for module, tables in used.items()
    }
