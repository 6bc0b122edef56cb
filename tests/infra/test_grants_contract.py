"""Each function's role allows every AWS call its code makes, as IAM evaluates it, and grants nothing else.

The demo (``vpn-doctor demo --remediate auto``) runs the real handlers against the embedded emulator; every AWS
call a handler makes is recorded (a botocore ``before-parameter-build`` hook on every boto3 session) with its
parameters, and attributed to the handler being invoked. The stack is synthesized with the demo's configuration
(auto remediation, monitoring by tag, Slack), in the rehearsal's account and region.

Each call becomes the authorisation requests IAM evaluates (tests/infra/iam/requests.py: the action, the resource
ARNs built from the call's parameters with the Service Authorization Reference's ARN formats, the request context
with the connection's tags, and the documented implicit permissions such as the KMS key of an encrypted topic or
tunnel logging's log delivery), after the demo's names are mapped onto the template's (each handler's environment
names its resources in both). Each request is evaluated (tests/infra/iam/evaluator.py) against the synthesized
policies of the function's role: anything but an Allow fails. In the other direction a granted action no call
needs fails the test, unless it is the Lambda platform's own or listed below with the path that needs it; and a
function reaches only the tables it uses. A function the demo does not run fails the test too.
"""

from __future__ import annotations

import contextvars
import copy
import io
import json
import multiprocessing
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.infra.cfn import as_list, function, has_function, resources, role_statements
from tests.infra.conftest import ACCOUNT, REGION, Synth, synthesize
from tests.infra.iam.evaluator import Decision, Principal, Request, evaluate, wildcard_match
from tests.infra.iam.receivers import logical_id_with_arn, resource_statements
from tests.infra.iam.requests import TUNNEL_LOGGING_ACTIONS, Environment, call_requests
from tests.infra.iam.template import StackTemplate, stack_templates
from vpn_doctor.constants import MONITOR_TAG, REMEDIATE_TAG
from vpn_doctor_tools.demo.stack import (
    BGP_LOG_GROUP,
    CGW_LOG_GROUP,
    DEMO_ROUTING,
    PAGERDUTY_SECRET_NAME,
    TEAMS_SECRET_NAME,
    TUNNEL_LOG_GROUP,
)

pytestmark = pytest.mark.slow  # the whole demo runs once (about 30 s)

# The deploy configuration the demo mirrors (tools/vpn_doctor_tools/demo/stack.py: DemoStack.environment).
DEMO_CONFIG: dict[str, Any] = {
    "remediation_mode": "auto",
    "monitor": {"scope": "tag"},
    # The demo's log groups, subscribed as a user lists theirs: AWS's tunnel and BGP logs, then the customer
    # gateway's syslog (ingest reads each back for a record's earlier lines).
    "tunnel_log_groups": [TUNNEL_LOG_GROUP, BGP_LOG_GROUP, CGW_LOG_GROUP],
    "slack_secret_name": "vpn-doctor/slack-webhook",
    "teams_secret_name": TEAMS_SECRET_NAME,
    "pagerduty_secret_name": PAGERDUTY_SECRET_NAME,
    "routing": DEMO_ROUTING,
    # The demo applies pending endpoint replacements in a window around its run (demo_apply_window).
    "apply_pending_maintenance_window": "02:00-05:00",
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
_LOGGING = "enable_tunnel_logging's log delivery (the demo's connections log already; see the tunnel-logging test)"
NOT_EXERCISED_BY_THE_DEMO: dict[tuple[str, str], str] = {
    ("state", "ec2:DescribeVpnConnections"): _TUNNEL_NOT_NAMED,
    ("state", "ec2:DescribeCustomerGateways"): _TUNNEL_NOT_NAMED,
    ("ingest", "dynamodb:GetItem"): "the connection map, read for a customer gateway's failure (the demo has "
    "only AWS tunnel records; tests/integration/test_attribution.py runs it)",
    ("notify", "sqs:SendMessage"): "a Slack message still failing after retries (the demo's receiver takes every post)",
    ("post_check", "events:PutEvents"): "an escalation: a modified tunnel not back UP (in the demo every one recovers)",
    **{("respond", action): _LOGGING for action in TUNNEL_LOGGING_ACTIONS},
    ("watchdog", "logs:DescribeLogStreams"): "a watched tunnel logging (the demo's scenarios end untagged: none left)",
    ("watchdog", "ec2:DescribeCustomerGateways"): "device names of watched connections (none left after the demo)",
    ("watchdog", "dynamodb:DeleteItem"): "a watchdog condition ending (the demo runs the watchdog once)",
    **{
        ("respond", f"ec2:{action}"): "AWS's sample configuration, for a connection tagged vpn-doctor:device-type (the "
        "demo's are not; moto has neither API: tests/integration/test_device_samples.py stubs both)"
        for action in ("GetVpnConnectionDeviceTypes", "GetVpnConnectionDeviceSampleConfiguration")
    },
    ("poller", "acm:DescribeCertificate"): "a tunnel certificate's expiry (the emulator's tunnels use pre-shared keys; "
    "tests/integration/test_ahead_adapters.py reads one from moto's ACM)",
}

# Functions the demo does not run, each with why (and so what checks its role instead). A function neither run
# nor listed fails the test; so does a listed one the demo runs.
FUNCTIONS_NOT_RUN_BY_THE_DEMO: dict[str, str] = {
    "onboard": "scheduled on-boarding would change the demo's tunnels under its scenarios; its calls are recorded "
    "and checked against its role in tests/infra/test_onboarding.py",
    "report": "the weekly report runs on a schedule, not on the demo's events; its calls are recorded against moto "
    "and checked against its role in tests/infra/test_report.py",
}

_stage: contextvars.ContextVar[str | None] = contextvars.ContextVar("stage", default=None)


@dataclass(frozen=True)
class Call:
    """One AWS call a handler made: what, with which parameters, the environment it ran with, the tags of the
    connection it names (as the handler last read them: the request context of a tag condition)."""

    stage: str
    prefix: str  # botocore's endpoint prefix
    operation: str
    params: dict[str, Any]
    environment: dict[str, str]
    resource_tags: dict[str, str] | None = None


@dataclass
class DemoCalls:
    """What the handlers called while the demo ran."""

    exit_code: int = 0
    invoked: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as plain JSON values (bytes and datetimes as text; they name no resource)."""
    plain: dict[str, Any] = json.loads(json.dumps(params, default=str))
    return plain


def record_demo_calls() -> DemoCalls:
    """Run the demo (auto remediation) and return every call each handler made.

    Runs in a fresh interpreter (see the fixture): handlers keep their clients for the process's life, and only
    sessions created after the hook is installed report their calls.
    """
    import boto3  # noqa: PLC0415 - imported in the worker process only

    from vpn_doctor_tools.demo import runner  # noqa: PLC0415
    from vpn_doctor_tools.demo.pipeline import Pipeline  # noqa: PLC0415

    recorded = DemoCalls()
    tags: dict[str, dict[str, str]] = {}  # connection id -> tags, as the handlers last read them
    seen: set[str] = set()

    def record(params: Mapping[str, Any], model: Any, **_: Any) -> None:
        stage = _stage.get()  # None for the demo's own calls, and in moto's server thread
        if stage is None:
            return
        plain = _plain(params)
        connection = plain.get("VpnConnectionId")
        call = Call(
            stage,
            model.service_model.endpoint_prefix,
            model.name,
            plain,
            {name: value for name, value in os.environ.items() if name.startswith("VPN_DOCTOR_")},
            copy.deepcopy(tags.get(connection)) if isinstance(connection, str) else None,
        )
        key = json.dumps([call.stage, call.operation, call.params, call.resource_tags], sort_keys=True)
        if key not in seen:  # the same request again needs nothing new
            seen.add(key)
            recorded.calls.append(call)

    def remember_tags(parsed: Mapping[str, Any], **_: Any) -> None:
        for connection in parsed.get("VpnConnections", []):
            tags[connection["VpnConnectionId"]] = {tag["Key"]: tag["Value"] for tag in connection.get("Tags", [])}

    original_init = boto3.session.Session.__init__

    def hooked_init(self: boto3.session.Session, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.events.register("before-parameter-build", record)
        self.events.register("after-call.ec2.DescribeVpnConnections", remember_tags)

    # The demo invokes every handler through Pipeline.invoke(stage, event), as Lambda would.
    invoke = Pipeline.invoke

    def attributed_invoke(self: Pipeline, stage: str, event: dict[str, Any]) -> Any:
        recorded.invoked.add(stage)
        token = _stage.set(stage)
        try:
            return invoke(self, stage, event)
        finally:
            _stage.reset(token)

    boto3.session.Session.__init__ = hooked_init  # type: ignore[method-assign]
    Pipeline.invoke = attributed_invoke  # type: ignore[method-assign]
    recorded.exit_code = runner.run_demo(out=io.StringIO(), json_lines=True, remediate="auto")
    return recorded


@pytest.fixture(scope="module")
def recorded() -> DemoCalls:
    """The demo's calls (in a spawned interpreter: handlers keep their clients, and nothing here is reused)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        calls: DemoCalls = pool.apply(record_demo_calls)
    assert calls.exit_code == 0, "the demo's own checks failed"
    return calls


@pytest.fixture(scope="module")
def demo_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The stack as the demo's configuration deploys it, in the rehearsal's account and region."""
    return synthesize(tmp_path_factory.mktemp("demo"), DEMO_CONFIG, name="demo")


@pytest.fixture(scope="module")
def main_stack(demo_synth: Synth) -> StackTemplate:
    """The main stack, resolvable."""
    stacks = stack_templates(demo_synth.directory, demo_synth.templates, account=ACCOUNT, region=REGION)
    return next(stack for stack in stacks if stack.name == "VpnDoctor")


# --- from the demo's names to the template's ------------------------------------------------------


def _demo_place(environment: Mapping[str, str]) -> tuple[str, str]:
    """The demo's account and region, read from an ARN in its environment."""
    arn = next(value for value in environment.values() if value.startswith("arn:aws:sns:"))
    _, _, _, region, account, _ = arn.split(":", 5)
    return account, region


def translation(stack: StackTemplate, module: str, environment: Mapping[str, str]) -> dict[str, str]:
    """Demo value -> template value, for every variable both the demo and the template give the function."""
    _, props = function(stack.template, module)
    template_env = stack.resolve(props["Environment"]["Variables"])
    pairs = {
        demo: str(template_env[name])
        for name, demo in environment.items()
        if name in template_env
        and demo
        and demo != template_env[name]
        # A list the demo gives in part (the watchdog watches only the tunnel group there) names the same things.
        and not set(demo.split(",")) <= set(str(template_env[name]).split(","))
    }
    # A log group is named by its name in some calls, by its ARN in the environment.
    for demo, ours in list(pairs.items()):
        if ":log-group:" in demo and ":log-group:" in ours:
            pairs[demo.split(":log-group:", 1)[1]] = ours.split(":log-group:", 1)[1].removesuffix(":*")
    return pairs


def translate(value: Any, pairs: Mapping[str, str], demo_place: tuple[str, str]) -> Any:
    """The value with the demo's names, account and region replaced by the template's."""
    if isinstance(value, dict):
        # A table name can be a key (BatchGetItem's RequestItems).
        return {pairs.get(key, key): translate(item, pairs, demo_place) for key, item in value.items()}
    if isinstance(value, list):
        return [translate(item, pairs, demo_place) for item in value]
    if not isinstance(value, str):
        return value
    if value in pairs:
        return pairs[value]
    account, region = demo_place
    for old, new in ((f":{region}:{account}:", f":{REGION}:{ACCOUNT}:"), (f"::{account}:", f"::{ACCOUNT}:")):
        value = value.replace(old, new)
    return value.replace(f"/{account}/", f"/{ACCOUNT}/").replace(f"sqs.{region}.", f"sqs.{REGION}.")


def _environment(stack: StackTemplate) -> Environment:
    topic_keys = {
        stack.ref(topic_id): stack.resolve(topic["Properties"]["KmsMasterKeyId"])
        for topic_id, topic in stack.of_type("AWS::SNS::Topic").items()
        if "KmsMasterKeyId" in topic.get("Properties", {})
    }
    return Environment(ACCOUNT, REGION, topic_keys=topic_keys)


def role_of(stack: StackTemplate, module: str) -> str:
    """The logical id of the function's role."""
    _, props = function(stack.template, module)
    role_id: str = props["Role"]["Fn::GetAtt"][0]
    return role_id


def evaluated_requests(stack: StackTemplate, call: Call) -> Iterator[tuple[Request, str]]:
    """The call's requests in the template's names."""
    pairs = translation(stack, call.stage, call.environment)
    params = translate(call.params, pairs, _demo_place(call.environment))
    yield from call_requests(call.prefix, call.operation, params, _environment(stack), resource_tags=call.resource_tags)


# --- the template's side ------------------------------------------------------------------------


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


def used_actions(stack: StackTemplate, recorded: DemoCalls) -> dict[str, set[str]]:
    """Per module, every action its calls needed (their own and the implicit ones)."""
    used: dict[str, set[str]] = {}
    for call in recorded.calls:
        used.setdefault(call.stage, set()).update(request.action for request, _ in evaluated_requests(stack, call))
    return used


def used_tables(recorded: DemoCalls) -> dict[str, set[str]]:
    """Per module, the tables its calls named, by the environment variable that named each to it."""
    used: dict[str, set[str]] = {}
    for call in recorded.calls:
        variables = {value: name for name, value in call.environment.items()}
        named = (
            {call.params.get("TableName")}
            | set(call.params.get("RequestItems", {}))
            | {request.get("TableName") for item in call.params.get("TransactItems", ()) for request in item.values()}
        )
        used.setdefault(call.stage, set()).update(variables.get(table, table) for table in named if table)
    return used


def allowed_in_account(stack: StackTemplate, identity: list[dict[str, Any]], request: Request) -> Decision:
    """Within one account: the caller's identity policies and the resource's own policy together (a Deny in
    either wins); a KMS key's policy must allow in any case, itself or by delegating to IAM
    (https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html)."""
    target = logical_id_with_arn(stack, request.resource) if request.resource != "*" else None
    own = [] if target is None else resource_statements(stack, target)
    decision = evaluate(identity + own, request)
    if decision is Decision.ALLOW and target is not None and stack.resources[target]["Type"] == "AWS::KMS::Key":
        return evaluate(own, request)
    return decision


# --- the contract -------------------------------------------------------------------------------


def test_the_demo_runs_every_function_of_the_stack_not_listed(main_stack: StackTemplate, recorded: DemoCalls) -> None:
    deployed = set(modules(main_stack.template))
    assert deployed - recorded.invoked - set(FUNCTIONS_NOT_RUN_BY_THE_DEMO) == set()
    assert set(FUNCTIONS_NOT_RUN_BY_THE_DEMO) - deployed == set(), "listed but not deployed"
    assert set(FUNCTIONS_NOT_RUN_BY_THE_DEMO) & recorded.invoked == set(), "the demo runs it now: unlist it"


def test_every_call_a_function_makes_is_allowed_by_its_role_as_iam_evaluates_it(
    main_stack: StackTemplate, recorded: DemoCalls
) -> None:
    refused: set[str] = set()
    evaluated = 0
    for call in recorded.calls:
        role_id = role_of(main_stack, call.stage)
        statements = main_stack.identity_statements(role_id)
        principal = Principal("AWS", main_stack.get_att(role_id, "Arn"))
        for needed, why in evaluated_requests(main_stack, call):
            evaluated += 1
            decision = allowed_in_account(
                main_stack, statements, Request(needed.action, needed.resource, needed.context, principal)
            )
            if decision is not Decision.ALLOW:
                refused.add(f"{call.stage}: {needed.action} on {needed.resource} ({why}): {decision.value}")
    assert sorted(refused) == []
    assert evaluated > 0


def test_every_action_a_role_grants_is_used_by_its_function(main_stack: StackTemplate, recorded: DemoCalls) -> None:
    template = main_stack.template
    used = used_actions(main_stack, recorded)
    unused: dict[str, list[str]] = {}
    for module in set(modules(template)) - set(FUNCTIONS_NOT_RUN_BY_THE_DEMO):
        known = {action for (owner, action) in NOT_EXERCISED_BY_THE_DEMO if owner == module}
        needed = used.get(module, set())
        # A granted pattern (kms:GenerateDataKey*) is used when a needed action matches it.
        extra = {
            granted
            for granted in granted_actions(template, module) - known
            if not any(wildcard_match(granted, action, ignore_case=True) for action in needed)
        }
        if extra:
            unused[module] = sorted(extra)
    assert unused == {}


def test_grants_listed_as_not_exercised_are_granted_and_not_exercised(
    main_stack: StackTemplate, recorded: DemoCalls
) -> None:
    template = main_stack.template
    used = used_actions(main_stack, recorded)
    for module, action in NOT_EXERCISED_BY_THE_DEMO:
        assert has_function(template, module)
        assert action in granted_actions(template, module), (module, action)
        assert action not in used.get(module, set()), f"the demo now exercises {module} {action}: unlist it"


def test_each_function_reaches_exactly_the_tables_it_uses(main_stack: StackTemplate, recorded: DemoCalls) -> None:
    template = main_stack.template
    run = sorted(set(modules(template)) - set(FUNCTIONS_NOT_RUN_BY_THE_DEMO))
    granted = {module: granted_tables(template, module) for module in run}
    used = used_tables(recorded)
    assert {module: sorted(tables) for module, tables in granted.items()} == {
        module: sorted(used.get(module, set())) for module in run
    }


# --- tunnel logging, whoever enables it (no demo needed) ----------------------------------------

CONNECTION = "vpn-0a1b2c3d4e5f60718"  # tests/infra/conftest.py's VPN_ID: listed in the full configuration
ENABLE_LOGGING = {
    "VpnConnectionId": CONNECTION,
    "VpnTunnelOutsideIpAddress": "203.0.113.5",
    "TunnelOptions": {
        "LogOptions": {
            "CloudWatchLogOptions": {
                "LogEnabled": True,
                "LogGroupArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/vendedlogs/vpn-doctor/tunnels",
                "LogOutputFormat": "json",
            }
        }
    },
}
# Tags under which a connection may be changed: tagged auto, or untagged (in an auto deployment); monitored.
MODIFIABLE_TAGS = ({MONITOR_TAG: "true", REMEDIATE_TAG: "auto"}, {MONITOR_TAG: "true"})


def test_every_role_allowed_to_change_a_tunnel_may_also_set_up_its_log_delivery(
    all_synths: tuple[Synth, ...],
) -> None:
    # Defect 2 of issue 13: respond could send LogOptions (enable_tunnel_logging) but held none of the
    # log-delivery permissions, so the change failed with AccessDenied. Every role of every stack is asked.
    modifiers: list[str] = []
    missing: dict[str, list[str]] = {}
    for synth in all_synths:
        for stack in stack_templates(synth.directory, synth.templates, account=ACCOUNT, region=REGION):
            env = Environment(ACCOUNT, REGION)
            for role_id in stack.of_type("AWS::IAM::Role"):
                statements = stack.identity_statements(role_id)
                for tags in MODIFIABLE_TAGS:
                    requests = list(
                        call_requests("ec2", "ModifyVpnTunnelOptions", ENABLE_LOGGING, env, resource_tags=tags)
                    )
                    (modify, _), *implied = requests
                    if evaluate(statements, modify) is not Decision.ALLOW:
                        continue
                    modifiers.append(f"{synth.config_name}/{stack.name}/{role_id}")
                    refused = [r.action for r, _ in implied if evaluate(statements, r) is not Decision.ALLOW]
                    if refused:
                        missing[f"{synth.config_name}/{stack.name}/{role_id}"] = refused
    assert modifiers, "no role may change tunnel options: the test would prove nothing"
    assert missing == {}


def test_selftest_needs_are_what_each_function_calls(main_stack: StackTemplate, recorded: DemoCalls) -> None:
    """``vpn-doctor selftest`` simulates each role for ``vpn_doctor_tools.needs.NEEDS``: for every function the demo
    runs, the actions its recorded calls needed (their own and the implicit ones) and the grants listed above as not
    exercised, no more and no less; every deployed function has its needs listed. The topic key's actions are left
    out: selftest's alarm-path check publishes through that key instead of simulating it."""
    from vpn_doctor_tools.needs import NEEDS  # noqa: PLC0415

    deployed = set(modules(main_stack.template))
    used = used_actions(main_stack, recorded)
    key_actions = {"kms:GenerateDataKey", "kms:Decrypt"}
    calls = {
        module: (used.get(module, set()) - key_actions)
        | {action for (owner, action) in NOT_EXERCISED_BY_THE_DEMO if owner == module}
        for module in deployed - set(FUNCTIONS_NOT_RUN_BY_THE_DEMO)
    }
    needs = {module: {action for action, _ in NEEDS.get(module, ())} for module in calls}
    assert needs == calls
    # estate_sync runs on spokes only (its calls are checked against the spoke's role in tests/infra/test_estate.py).
    assert set(NEEDS) - {"estate_sync"} == deployed
