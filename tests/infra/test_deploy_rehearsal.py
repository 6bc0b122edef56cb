"""Deploy rehearsal: CloudFormation create, delete and update of the synthesized templates against moto_server.

Every resource of the template is accounted for: moto's CloudFormation creates each type it models, and each
resource of a type it does not model is resolved against what was created and validated against its CloudFormation
resource schema (``tests/infra/rehearsal.py``). ``UNMODELLED`` says, per type, what that leaves unchecked; a type
that is neither created nor listed there fails the rehearsal instead of being skipped.

Three rehearsals: everything on (create), the default stack destroyed and deployed again with its retained tunnel
log group present, and an upgrade from the recorded template of the previous release with incidents in its table.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.parsers import ResponseParserError
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from tests.infra.conftest import REGION, Synth, synthesize
from tests.infra.rehearsal import ACCOUNT, Resolver, prepare, schema, schema_errors, split
from vpn_doctor.constants import (
    ENV_ALERT_TOPIC_ARN,
    ENV_EVENT_BUS_NAME,
    ENV_INCIDENTS_TABLE,
    ENV_REMEDIATION_TABLE,
    TUNNEL_LOG_GROUP_NAME,
)

pytestmark = [
    pytest.mark.slow,
    # moto announces each resource type it does not model; the rehearsal checks those itself.
    pytest.mark.filterwarnings("ignore:Tried to parse:UserWarning"),
]

# Types moto's CloudFormation does not create, and what the schema check leaves unchecked for each. Only a real
# deploy (or `vpn-doctor selftest` on the account) checks these parts.
UNMODELLED = {
    "AWS::CloudWatch::Alarm": "that the metric exists; that the topic's policy lets CloudWatch publish the actions",
    "AWS::Lambda::EventInvokeConfig": "that the destination queue accepts the function's messages (its role's grant)",
    "AWS::Logs::SubscriptionFilter": "CloudWatch Logs' two-filters-per-group limit; that Logs may invoke the function",
    "AWS::SNS::Subscription": "the e-mail confirmation; delivery to the endpoint",
    "AWS::SNS::TopicPolicy": "what the policy allows (its shape is checked, not its effect)",
    "AWS::SQS::QueuePolicy": "what the policy allows (its shape is checked, not its effect)",
}
BASE_TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "templates" / "VpnDoctor-c696c3a.template.json"
# Stateful resources an update must never replace (their data would be lost, or tunnels would log elsewhere).
STATEFUL = ("AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::KMS::Key")


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def moto_endpoint(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[str]:
    """A moto_server on 127.0.0.1 (a free port), with fake credentials only."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch_module.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


class Rehearsal:
    """CloudFormation in moto, one region: deploy a synthesized template (every resource created or checked)."""

    def __init__(self, endpoint: str, region: str) -> None:
        self.endpoint = endpoint
        self.region = region
        self.cloudformation = self.client("cloudformation")

    def client(self, service: str) -> Any:
        """A boto3 client of this rehearsal's moto region."""
        return boto3.client(service, endpoint_url=self.endpoint, region_name=self.region)

    def upload_code(self, template: dict[str, Any]) -> None:
        """Put a stand-in zip wherever a function or layer's code points (the bootstrap assets bucket)."""
        s3 = self.client("s3")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.writestr("handlers/__init__.py", "")
        resolver = Resolver(template, self.region, "assets")
        for resource in template["Resources"].values():
            code = resource.get("Properties", {}).get("Code") or resource.get("Properties", {}).get("Content") or {}
            if "S3Key" in code:
                bucket = resolver.resolve(code["S3Bucket"])
                if bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
                s3.put_object(Bucket=bucket, Key=code["S3Key"], Body=archive.getvalue())

    def moto_template(self, template: dict[str, Any], stack_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(what moto creates, the unmodelled resources), with what moto's CloudFormation needs adapted."""
        created, unmodelled = split(prepare(template, self.region), self.region, stack_name)
        buses = {
            k: r["Properties"]["Name"] for k, r in created["Resources"].items() if r["Type"] == "AWS::Events::EventBus"
        }
        for key, resource in created["Resources"].items():
            # moto orders creation by references itself, and its Ref of an event bus is not the bus name.
            resource.pop("DependsOn", None)
            created["Resources"][key] = _refs_to_values(resource, buses)
        self.upload_code(created)
        return created, unmodelled

    def deploy(self, template: dict[str, Any], stack_name: str, *, update: bool = False) -> dict[str, Any]:
        """Create (or update) the stack; returns its status, what moto created and the schema check of the rest."""
        created, unmodelled = self.moto_template(template, stack_name)
        if update:
            # moto's update looks layer versions up again and finds neither the public Powertools layer (another
            # account's) nor, through its Ref, the created one: the update leaves the functions' Layers out (the
            # create rehearsal checks them).
            for resource in created["Resources"].values():
                if resource["Type"] == "AWS::Lambda::Function":
                    resource["Properties"].pop("Layers", None)
        call = self.cloudformation.update_stack if update else self.cloudformation.create_stack
        call(StackName=stack_name, TemplateBody=json.dumps(created), Capabilities=["CAPABILITY_IAM"])
        stack = self.cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
        summaries = self.cloudformation.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        resolver = Resolver(
            {"Resources": {**created["Resources"], **unmodelled}},
            self.region,
            stack_name,
            physical={s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries},
            parameters={k: p["Default"] for k, p in created.get("Parameters", {}).items() if "Default" in p},
        )
        checked = {
            key: schema_errors(resource["Type"], resolver.resolve(resource.get("Properties", {})), self.region)
            for key, resource in unmodelled.items()
        }
        return {
            "stack": stack,
            "created": summaries,
            "checked": checked,
            "types": {k: r["Type"] for k, r in {**created["Resources"], **unmodelled}.items()},
            "template": created,
        }


def _refs_to_values(node: Any, values: dict[str, str]) -> Any:
    """The fragment with each Ref of the given logical ids replaced by the value CloudFormation's Ref returns."""
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return values[node["Ref"]]
        return {key: _refs_to_values(value, values) for key, value in node.items()}
    if isinstance(node, list):
        return [_refs_to_values(item, values) for item in node]
    return node


def assert_complete(deployed: dict[str, Any], template: dict[str, Any]) -> None:
    """Every resource of the template was created, or resolved and schema-checked without an error."""
    created = {r["LogicalResourceId"]: r for r in deployed["created"]}
    assert deployed["stack"]["StackStatus"] in {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    assert {r["ResourceStatus"] for r in created.values()} <= {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
    assert set(created) | set(deployed["checked"]) == set(template["Resources"])
    assert {key: errors for key, errors in deployed["checked"].items() if errors} == {}
    unmodelled_types = {deployed["types"][key] for key in deployed["checked"]}
    assert unmodelled_types <= set(UNMODELLED), "a resource type neither created nor listed in UNMODELLED"


@pytest.fixture(scope="module")
def full_deploy(full_synth: Synth, moto_endpoint: str) -> dict[str, Any]:
    """Everything on, created in moto's eu-west-1."""
    return Rehearsal(moto_endpoint, REGION).deploy(dict(full_synth.templates["VpnDoctor"]), "VpnDoctor")


def test_every_resource_is_created_or_checked_against_its_schema(
    full_deploy: dict[str, Any], full_synth: Synth
) -> None:
    template = full_synth.templates["VpnDoctor"]
    assert_complete(full_deploy, template)
    created = Counter(r["ResourceType"] for r in full_deploy["created"])
    checked = Counter(full_deploy["types"][key] for key in full_deploy["checked"])
    print("created by moto:", dict(sorted(created.items())))
    print("schema-checked (no moto model):", dict(sorted(checked.items())))
    for resource_type in sorted(checked):
        print(f"  unchecked for {resource_type}: {UNMODELLED[resource_type]}")
    assert created["AWS::CloudWatch::Dashboard"] == 1
    assert checked["AWS::CloudWatch::Alarm"] >= 15
    assert checked["AWS::Logs::SubscriptionFilter"] == 2


def test_the_network_manager_forwarder_stack_is_created_in_us_west_2(full_synth: Synth, moto_endpoint: str) -> None:
    (name,) = [stack for stack in full_synth.templates if stack.startswith("VpnDoctorNetworkManager")]
    template = dict(full_synth.templates[name])
    deployed = Rehearsal(moto_endpoint, "us-west-2").deploy(template, name)
    assert_complete(deployed, template)
    assert {r["ResourceType"] for r in deployed["created"]} == {
        "AWS::Events::Rule",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
    }


def test_the_schema_check_catches_a_property_the_type_does_not_have(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    alarm = next(r for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm")
    broken = {**alarm["Properties"], "Threshold": "one", "Unknown": 1}
    resolver = Resolver(template, REGION, "VpnDoctor")
    errors = schema_errors("AWS::CloudWatch::Alarm", resolver.resolve(broken), REGION)
    assert any("Unknown" in error for error in errors)
    assert any(error.startswith("Threshold") for error in errors)


def test_created_functions_point_at_the_created_table_topic_and_bus(
    full_deploy: dict[str, Any], moto_endpoint: str
) -> None:
    rehearsal = Rehearsal(moto_endpoint, REGION)
    functions = {f["Handler"]: f for f in rehearsal.client("lambda").list_functions()["Functions"]}
    assert sorted(functions) == sorted(
        f"handlers.{m}.handler"
        for m in ("ingest", "state", "poller", "respond", "notify", "post_check", "onboard", "watchdog", "report")
    )
    assert {f["Runtime"] for f in functions.values()} == {"python3.13"}
    tables = set(rehearsal.client("dynamodb").list_tables()["TableNames"])
    topics = {t["TopicArn"] for t in rehearsal.client("sns").list_topics()["Topics"]}
    buses = {b["Name"] for b in rehearsal.client("events").list_event_buses()["EventBuses"]}
    for function in functions.values():
        variables = function["Environment"]["Variables"]
        if ENV_INCIDENTS_TABLE in variables:
            assert variables[ENV_INCIDENTS_TABLE] in tables
        if ENV_EVENT_BUS_NAME in variables:
            assert variables[ENV_EVENT_BUS_NAME] in buses
    assert functions["handlers.notify.handler"]["Environment"]["Variables"][ENV_ALERT_TOPIC_ARN] in topics
    assert functions["handlers.respond.handler"]["Environment"]["Variables"][ENV_REMEDIATION_TABLE] in tables
    report = functions["handlers.report.handler"]["Environment"]["Variables"]
    assert (report[ENV_ALERT_TOPIC_ARN] in topics, report[ENV_REMEDIATION_TABLE] in tables) == (True, True)


# --- destroy, then deploy again ------------------------------------------------------------------------------------


def imported(template: dict[str, Any], resource_type: str, name: str) -> dict[str, Any]:
    """The template as CloudFormation deploys it with ``--import-existing-resources`` when the named resource exists:
    the existing resource is adopted under its logical id instead of created. moto's CloudFormation has no automatic
    import, so the rehearsal stands the adopted resource in by its name (what Ref returns for it)."""
    result = json.loads(json.dumps(template))
    (key,) = [
        k for k, r in result["Resources"].items()
        if r["Type"] == resource_type and r["Properties"].get("LogGroupName") == name
    ]  # fmt: skip
    del result["Resources"][key]

    def adopt(node: Any) -> Any:
        if isinstance(node, dict):
            if node == {"Ref": key}:
                return name
            if set(node) == {"Fn::GetAtt"} and node["Fn::GetAtt"][0] == key:
                return f"arn:aws:logs:{{region}}:{ACCOUNT}:log-group:{name}:*"
            return {k: adopt(v) for k, v in node.items()}
        if isinstance(node, list):
            return [adopt(item) for item in node]
        return node

    return adopt(result)  # type: ignore[no-any-return]


def test_destroy_then_deploy_again_with_the_retained_log_group(default_synth: Synth, moto_endpoint: str) -> None:
    region = "eu-central-1"  # its own region: the default stack's bus and log group names are fixed per region
    rehearsal = Rehearsal(moto_endpoint, region)
    template = dict(default_synth.templates["VpnDoctor"])
    first = rehearsal.deploy(template, "VpnDoctor")
    assert_complete(first, template)
    logs = rehearsal.client("logs")
    rehearsal.cloudformation.delete_stack(StackName="VpnDoctor")
    # `cdk destroy` keeps the tunnel log group (DeletionPolicy Retain): the tunnels' logging still points at it.
    assert [
        g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix=TUNNEL_LOG_GROUP_NAME)["logGroups"]
    ] == [TUNNEL_LOG_GROUP_NAME]
    # A plain deploy fails on it, as on AWS ("already exists"): CloudFormation creates, it does not adopt.
    # (moto answers CreateStack with the Logs error itself, which botocore cannot parse as a CloudFormation error.)
    with pytest.raises((ClientError, ResponseParserError), match="already exists"):
        rehearsal.deploy(template, "VpnDoctor")
    rehearsal.cloudformation.delete_stack(StackName="VpnDoctor")
    # With --import-existing-resources the retained group is adopted and everything else created anew.
    adopted = imported(template, "AWS::Logs::LogGroup", TUNNEL_LOG_GROUP_NAME)
    again = rehearsal.deploy(json.loads(json.dumps(adopted).replace("{region}", region)), "VpnDoctor")
    assert_complete(again, adopted)
    # The adopted group is the one the new stack subscribes to.
    (subscription,) = [r for r in adopted["Resources"].values() if r["Type"] == "AWS::Logs::SubscriptionFilter"]
    assert subscription["Properties"]["LogGroupName"] == TUNNEL_LOG_GROUP_NAME


# --- upgrade from the previous release -----------------------------------------------------------------------------


def replaced_on_update(old: dict[str, Any], new: dict[str, Any], region: str) -> dict[str, list[str]]:
    """Logical id -> why CloudFormation replaces it on update: gone from the new template, another type, or a
    create-only property (per the type's resource schema) changed."""
    replaced: dict[str, list[str]] = {}
    for key, before in old["Resources"].items():
        after = new["Resources"].get(key)
        if after is None or after["Type"] != before["Type"]:
            replaced[key] = ["removed or retyped"]
            continue
        create_only = [
            p.removeprefix("/properties/").split("/")[0]
            for p in schema(before["Type"], region).get("createOnlyProperties", [])
        ]
        changed = [
            name for name in create_only
            if before.get("Properties", {}).get(name) != after.get("Properties", {}).get(name)
        ]  # fmt: skip
        if changed:
            replaced[key] = changed
    return replaced


@pytest.fixture(scope="module")
def upgraded_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Today's default configuration in the environment the recorded template was synthesized for."""
    return synthesize(tmp_path_factory.mktemp("upgrade"), None, region=REGION, name="upgrade")


def test_an_upgrade_keeps_the_tables_and_the_tunnel_log_group(upgraded_synth: Synth) -> None:
    old = json.loads(BASE_TEMPLATE.read_text(encoding="utf-8"))
    new = upgraded_synth.templates["VpnDoctor"]
    replaced = replaced_on_update(old, new, REGION)
    stateful = {key: why for key, why in replaced.items() if old["Resources"][key]["Type"] in STATEFUL}
    assert stateful == {}
    print("replaced on upgrade:", replaced)


def test_an_upgrade_in_moto_keeps_the_incidents(upgraded_synth: Synth, moto_endpoint: str) -> None:
    region = "eu-north-1"
    rehearsal = Rehearsal(moto_endpoint, region)
    old = json.loads(BASE_TEMPLATE.read_text(encoding="utf-8").replace("eu-west-1", region))
    first = rehearsal.deploy(old, "VpnDoctor")
    assert_complete(first, old)
    tables = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in first["created"]
        if r["ResourceType"] == "AWS::DynamoDB::Table"
    }
    dynamodb = rehearsal.client("dynamodb")
    incidents = next(physical for logical, physical in tables.items() if logical.startswith("Incidents"))
    item = {"pk": {"S": "TUNNEL#vpn-0a1b2c3d4e5f60718#203.0.113.5"}, "sk": {"S": "RECORD"}, "state": {"S": "DOWN"}}
    dynamodb.put_item(TableName=incidents, Item=item)
    new = json.loads(json.dumps(upgraded_synth.templates["VpnDoctor"]).replace("eu-west-1", region))
    second = rehearsal.deploy(new, "VpnDoctor", update=True)
    assert second["stack"]["StackStatus"] == "UPDATE_COMPLETE"
    after = {
        r["LogicalResourceId"]: r["PhysicalResourceId"]
        for r in second["created"]
        if r["ResourceType"] == "AWS::DynamoDB::Table"
    }
    assert after == tables
    assert dynamodb.get_item(TableName=incidents, Key={"pk": item["pk"], "sk": item["sk"]})["Item"] == item
