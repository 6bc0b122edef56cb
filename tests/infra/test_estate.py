"""Hub and spokes (docs/estate.md) in the synthesized templates: the hub's bus admits the organization only, the
spokes forward through a role allowed on the hub's bus alone, the StackSet's spoke deploys without CDK bootstrap
(no bootstrap parameter or rule, code from the organization-readable bucket of its region), the hub sends its
silences to the spokes, and a single deployment has none of it."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_events as events

from handlers.wiring import load_settings
from stacks.config import Estate, parse_config
from stacks.estate import SILENCE_TOPIC_NAME, STACK_SET_NAME, HubSide
from stacks.incidents import table
from tests.infra.cfn import function, has_function, resources, role_statements
from tests.infra.conftest import (
    ACCOUNT,
    ORGANIZATION,
    REGION,
    SPOKE_HUB,
    SPOKE_REGIONS,
    STACK_SET_SPOKE,
    Synth,
    deploy_app,
)
from tests.infra.iam.evaluator import Decision, Principal, Request, evaluate
from tests.infra.iam.template import StackTemplate
from tests.infra.test_cfn_lint import ACCEPTED, CFN_LINT
from tests.infra.test_settings_contract import deployed_environment, settings_of
from vpn_doctor.constants import DETAIL_TYPE_ALERT, DETAIL_TYPE_INCIDENT, ENV_INCIDENTS_TABLE, EVENT_SOURCE
from vpn_doctor_tools.needs import NEEDS

pytestmark = pytest.mark.infra

MEMBER = "444455556666"  # an account of the organization
STRANGER = "777766665555"  # an account of another organization
ESTATE_TYPES = {
    "AWS::Events::EventBusPolicy",
    "AWS::Events::Archive",
    "AWS::Pipes::Pipe",
    "AWS::CloudFormation::StackSet",
}


def _hub(estate_synth: Synth) -> StackTemplate:
    return StackTemplate("VpnDoctor", estate_synth.templates["VpnDoctor"], ACCOUNT, REGION)


def _one(template: dict[str, Any], resource_type: str) -> tuple[str, dict[str, Any]]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"{resource_type}: {sorted(found)}"
    return next(iter(found.items()))


def _sender(account: str, org: str | None) -> Request:
    return Request(
        action="events:PutEvents",
        resource=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/vpn-doctor",
        principal=Principal("AWS", f"arn:aws:iam::{account}:role/vpn-doctor-spoke-ForwardRole"),
        context={"aws:PrincipalOrgID": org} if org else {},
    )


def _bus_statements(stack: StackTemplate) -> list[dict[str, Any]]:
    return [stack.resolve(p["Properties"]["Statement"]) for p in stack.of_type("AWS::Events::EventBusPolicy").values()]


# --- the hub --------------------------------------------------------------------------------------------------


def test_the_hub_bus_admits_the_organization_and_refuses_everyone_else(estate_synth: Synth) -> None:
    statements = _bus_statements(_hub(estate_synth))
    assert evaluate(statements, _sender(MEMBER, ORGANIZATION)) is Decision.ALLOW
    assert evaluate(statements, _sender(STRANGER, "o-zzzzzzzzzz")) is Decision.IMPLICIT_DENY
    assert evaluate(statements, _sender(STRANGER, None)) is Decision.IMPLICIT_DENY
    # Only PutEvents: a member cannot put rules or targets on the hub's bus.
    rules = Request(
        "events:PutRule",
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/vpn-doctor/x",
        {"aws:PrincipalOrgID": ORGANIZATION},
        _sender(MEMBER, ORGANIZATION).principal,
    )
    assert evaluate(statements, rules) is Decision.IMPLICIT_DENY


def test_a_hub_for_listed_accounts_admits_exactly_those() -> None:
    app = deploy_app({})
    stack = cdk.Stack(app, "Hub", env=cdk.Environment(account=ACCOUNT, region=REGION))
    bus = events.EventBus(stack, "Bus", event_bus_name="vpn-doctor")
    estate = Estate(account_ids=(MEMBER,), hub_account_id=ACCOUNT, hub_region=REGION)
    HubSide(stack, "Hub", bus=bus, table=table(stack, "Table"), estate=estate)
    template = StackTemplate("Hub", app.synth().get_stack_by_name("Hub").template, ACCOUNT, REGION)
    statements = _bus_statements(template)
    assert evaluate(statements, _sender(MEMBER, None)) is Decision.ALLOW
    assert evaluate(statements, _sender(STRANGER, ORGANIZATION)) is Decision.IMPLICIT_DENY


def test_the_hub_responds_to_its_own_incidents_only_and_notifies_for_every_account(estate_synth: Synth) -> None:
    template = estate_synth.templates["VpnDoctor"]
    patterns = [rule["Properties"].get("EventPattern") for rule in resources(template, "AWS::Events::Rule").values()]
    incident = [p for p in patterns if p and p.get("detail-type") == [DETAIL_TYPE_INCIDENT]]
    alert = [p for p in patterns if p and p.get("detail-type") == [DETAIL_TYPE_ALERT]]
    # Forwarded incidents keep their account: the spoke's respond handled them; the hub's must not act again.
    assert incident == [
        {"account": [{"Ref": "AWS::AccountId"}], "detail-type": [DETAIL_TYPE_INCIDENT], "source": [EVENT_SOURCE]}
    ]
    # One notify rule, for the hub's own alerts and the forwarded ones alike (its once-records dedupe them).
    assert alert == [{"detail-type": [DETAIL_TYPE_ALERT], "source": [EVENT_SOURCE]}]
    assert has_function(template, "notify")
    _, archive = _one(template, "AWS::Events::Archive")
    assert archive["Properties"]["RetentionDays"] == 90


def test_the_hub_publishes_each_silence_write_to_a_topic_only_the_organizations_functions_subscribe_to(
    estate_synth: Synth,
) -> None:
    hub = _hub(estate_synth)
    template = estate_synth.templates["VpnDoctor"]
    _, pipe = _one(template, "AWS::Pipes::Pipe")
    table_id = next(key for key in resources(template, "AWS::DynamoDB::Table") if key.startswith("Incidents"))
    assert pipe["Properties"]["Source"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert template["Resources"][table_id]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_IMAGE"}
    pattern = json.loads(pipe["Properties"]["SourceParameters"]["FilterCriteria"]["Filters"][0]["Pattern"])
    assert pattern == {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {"pk": {"S": ["SILENCE"]}}}}
    (topic_id,) = [
        key
        for key, value in resources(template, "AWS::SNS::Topic").items()
        if value["Properties"].get("TopicName") == SILENCE_TOPIC_NAME
    ]
    assert pipe["Properties"]["Target"] == {"Ref": topic_id}
    from tests.infra.iam.receivers import resource_statements  # noqa: PLC0415

    statements = resource_statements(hub, topic_id)
    topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{SILENCE_TOPIC_NAME}"
    member = Principal("AWS", f"arn:aws:iam::{MEMBER}:role/stacksets-exec")

    def subscribe(protocol: str, org: str, principal: Principal = member) -> Decision:
        context = {"aws:PrincipalOrgID": org, "sns:Protocol": protocol, "aws:SecureTransport": True}
        return evaluate(statements, Request("sns:Subscribe", topic_arn, context, principal))

    assert subscribe("lambda", ORGANIZATION) is Decision.ALLOW
    assert subscribe("email", ORGANIZATION) is Decision.IMPLICIT_DENY
    assert (
        subscribe("lambda", "o-zzzzzzzzzz", Principal("AWS", f"arn:aws:iam::{STRANGER}:root")) is Decision.IMPLICIT_DENY
    )


# --- the StackSet and its spoke template ----------------------------------------------------------------------


def test_the_stack_set_is_service_managed_auto_deployed_and_points_at_this_synths_spoke_template(
    estate_synth: Synth,
) -> None:
    _, stack_set = _one(estate_synth.templates["VpnDoctor"], "AWS::CloudFormation::StackSet")
    props = stack_set["Properties"]
    assert props["StackSetName"] == STACK_SET_NAME
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    (group,) = props["StackInstancesGroup"]
    assert sorted(group["Regions"]) == SPOKE_REGIONS
    assert group["DeploymentTargets"] == {
        "OrganizationalUnitIds": ["ou-ab12-cd34ef56"],
        "AccountFilterType": "DIFFERENCE",
        "Accounts": [ACCOUNT],
    }
    url = _hub(estate_synth).resolve(props["TemplateURL"])
    nested = next((estate_synth.directory / "assembly-Spokes").glob("*.template.json"))
    digest = hashlib.sha256(nested.read_bytes()).hexdigest()
    assert url == f"https://vpn-doctor-assets-{ACCOUNT}-{REGION}.s3.{REGION}.amazonaws.com/{digest}.json"
    # publish-assets uploads it from the spoke's asset manifest, under the same key.
    manifest = json.loads(next((estate_synth.directory / "assembly-Spokes").glob("*.assets.json")).read_text())
    assert f"{digest}.json" in {d["objectKey"] for f in manifest["files"].values() for d in f["destinations"].values()}


def test_the_stack_set_spoke_needs_no_cdk_bootstrap_and_takes_its_code_from_the_organizations_bucket(
    estate_synth: Synth,
) -> None:
    spoke = estate_synth.templates[STACK_SET_SPOKE]
    assert "Rules" not in spoke  # no CheckBootstrapVersion
    parameters = spoke.get("Parameters", {})
    assert "BootstrapVersion" not in parameters
    # The only parameter: Powertools' public layer, resolved from its public SSM parameter (present in every account).
    assert {p["Type"] for p in parameters.values()} <= {"AWS::SSM::Parameter::Value<String>"}
    assert all(p["Default"].startswith("/aws/service/powertools/") for p in parameters.values())
    assert "cdk-hnb659fds" not in json.dumps(spoke)  # no bootstrap bucket, role or qualifier
    bucket = {"Fn::Sub": f"vpn-doctor-assets-{ACCOUNT}-${{AWS::Region}}"}
    functions = resources(spoke, "AWS::Lambda::Function")
    layers = resources(spoke, "AWS::Lambda::LayerVersion")
    assert functions
    assert layers
    assert {json.dumps(f["Properties"]["Code"]["S3Bucket"]) for f in functions.values()} == {json.dumps(bucket)}
    assert {json.dumps(layer["Properties"]["Content"]["S3Bucket"]) for layer in layers.values()} == {json.dumps(bucket)}
    # Every region the StackSet targets has such a bucket, readable by the organization's accounts only.
    for region in SPOKE_REGIONS:
        assets = StackTemplate(
            f"VpnDoctorAssets-{region}", estate_synth.templates[f"VpnDoctorAssets-{region}"], ACCOUNT, region
        )
        (bucket_id,) = assets.of_type("AWS::S3::Bucket")
        assert assets.resources[bucket_id]["Properties"]["BucketName"] == f"vpn-doctor-assets-{ACCOUNT}-{region}"
        (policy,) = assets.of_type("AWS::S3::BucketPolicy").values()
        statements = [assets.resolve(s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
        key = f"arn:aws:s3:::vpn-doctor-assets-{ACCOUNT}-{region}/abc.zip"
        reader = Principal("AWS", f"arn:aws:iam::{MEMBER}:role/stacksets-exec")
        tls = {"aws:SecureTransport": True}
        allowed = Request("s3:GetObject", key, {**tls, "aws:PrincipalOrgID": ORGANIZATION}, reader)
        assert evaluate(statements, allowed) is Decision.ALLOW
        stranger = Principal("AWS", f"arn:aws:iam::{STRANGER}:root")
        assert (
            evaluate(statements, Request("s3:GetObject", key, {**tls, "aws:PrincipalOrgID": "o-zzzzzzzzzz"}, stranger))
            is not Decision.ALLOW
        )
        assert (
            evaluate(statements, Request("s3:PutObject", key, {**tls, "aws:PrincipalOrgID": ORGANIZATION}, reader))
            is not Decision.ALLOW
        )


def test_a_spoke_sends_no_alerts_and_forwards_through_a_role_allowed_on_the_hubs_bus_alone(
    estate_synth: Synth, spoke_synth: Synth
) -> None:
    for template, hub_account, hub_region in (
        (estate_synth.templates[STACK_SET_SPOKE], ACCOUNT, REGION),
        (spoke_synth.templates["VpnDoctor"], SPOKE_HUB["hub_account_id"], SPOKE_HUB["hub_region"]),
    ):
        assert not has_function(template, "notify")
        assert not has_function(template, "report")
        assert not resources(template, "AWS::Events::EventBusPolicy")  # a spoke's bus takes its own events only
        assert "secretsmanager" not in json.dumps(template)  # the hub's channels (their secrets) stay in the hub
        hub_bus = f"arn:aws:events:{hub_region}:{hub_account}:event-bus/vpn-doctor"
        stack = StackTemplate("spoke", template, MEMBER, "us-east-1")
        forwards = [
            rule["Properties"]
            for rule in resources(template, "AWS::Events::Rule").values()
            if any(stack.resolve(t["Arn"]) == hub_bus for t in rule["Properties"].get("Targets", []))
        ]
        assert len(forwards) == 1
        assert forwards[0]["EventPattern"] == {
            "detail-type": [DETAIL_TYPE_INCIDENT, DETAIL_TYPE_ALERT],
            "source": [EVENT_SOURCE],
        }
        (target,) = forwards[0]["Targets"]
        role_id = target["RoleArn"]["Fn::GetAtt"][0]
        identity = [stack.resolve(s) for s in role_statements(template, role_id)]
        principal = Principal("AWS", f"arn:aws:iam::{MEMBER}:role/{role_id}")
        assert evaluate(identity, Request("events:PutEvents", hub_bus, {}, principal)) is Decision.ALLOW
        other = f"arn:aws:events:{hub_region}:{STRANGER}:event-bus/vpn-doctor"
        assert evaluate(identity, Request("events:PutEvents", other, {}, principal)) is Decision.IMPLICIT_DENY
        assert "DeadLetterConfig" in target
        # The hub's silences: the estate_sync function subscribed to the hub's topic, in the hub's region.
        (subscription,) = [
            s for s in resources(template, "AWS::SNS::Subscription").values() if s["Properties"]["Protocol"] == "lambda"
        ]
        topic = f"arn:aws:sns:{hub_region}:{hub_account}:{SILENCE_TOPIC_NAME}"
        assert stack.resolve(subscription["Properties"]["TopicArn"]) == topic
        assert subscription["Properties"]["Region"] == hub_region
        assert subscription["Properties"]["Protocol"] == "lambda"
        sync_id, _ = function(template, "estate_sync")
        assert subscription["Properties"]["Endpoint"] == {"Fn::GetAtt": [sync_id, "Arn"]}
        permissions = [p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()]
        assert any(
            p["Principal"] == "sns.amazonaws.com" and stack.resolve(p["SourceArn"]) == topic for p in permissions
        )


def test_the_spoke_deployed_with_cdk_deploy_keeps_cdks_bootstrap_check(spoke_synth: Synth) -> None:
    assert "BootstrapVersion" in spoke_synth.templates["VpnDoctor"]["Parameters"]


def test_estate_sync_reads_its_settings_and_is_granted_exactly_its_needs(spoke_synth: Synth) -> None:
    template = spoke_synth.templates["VpnDoctor"]
    _, props = function(template, "estate_sync")
    variables = props["Environment"]["Variables"]
    settings = load_settings(settings_of("estate_sync"), deployed_environment(variables))
    assert set(variables) - {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"} == {ENV_INCIDENTS_TABLE}
    assert settings.incidents_table
    from tests.infra.test_grants_contract import granted_actions  # noqa: PLC0415

    assert granted_actions(template, "estate_sync") == {action for action, _ in NEEDS["estate_sync"]}


# --- a single deployment is what it was ---------------------------------------------------------------------------


def test_a_single_deployment_has_nothing_of_an_estate(all_synths: tuple[Synth, ...]) -> None:
    for synth in all_synths:
        for template in synth.templates.values():
            assert {r["Type"] for r in template["Resources"].values()} & ESTATE_TYPES == set()
            assert not has_function(template, "estate_sync")
            subscriptions = resources(template, "AWS::SNS::Subscription").values()
            assert {s["Properties"]["Protocol"] for s in subscriptions} <= {"email"}
            assert "account" not in json.dumps(
                [r["Properties"].get("EventPattern", {}) for r in resources(template, "AWS::Events::Rule").values()]
            )
    assert parse_config(None).deployment == "single"


# --- cfn-lint, once per new template ------------------------------------------------------------------------------


def test_the_estate_templates_pass_cfn_lint(estate_synth: Synth, spoke_synth: Synth) -> None:
    paths = [
        *sorted(estate_synth.directory.glob("*.template.json")),
        *sorted((estate_synth.directory / "assembly-Spokes").glob("*.template.json")),
        *sorted(spoke_synth.directory.glob("*.template.json")),
    ]
    assert len(paths) == 5  # hub, two assets buckets, the StackSet's spoke, the cdk-deploy spoke
    result = subprocess.run(
        [str(CFN_LINT), "--format", "json", *map(str, paths)], capture_output=True, text=True, check=False
    )
    findings = json.loads(result.stdout or "[]")
    problems = [
        f"{f['Rule']['Id']} {Path(f['Filename']).name} {f['Message']}"
        for f in findings
        if f["Rule"]["Id"] not in ACCEPTED
    ]
    assert problems == []
    assert result.returncode in {0, 4}, result.stderr


# --- publish-assets: what the StackSet's spokes need is where they look for it ----------------------------------


def test_publish_assets_puts_the_template_and_every_function_and_layer_where_the_spokes_read_them(
    estate_synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    import boto3  # noqa: PLC0415

    from tests.conftest import fake_aws_environment, mocked_aws  # noqa: PLC0415
    from vpn_doctor_tools.cli.main import main  # noqa: PLC0415

    fake_aws_environment(monkeypatch)
    spoke = estate_synth.templates[STACK_SET_SPOKE]
    keys = {f["Properties"]["Code"]["S3Key"] for f in resources(spoke, "AWS::Lambda::Function").values()}
    keys |= {
        layer["Properties"]["Content"]["S3Key"] for layer in resources(spoke, "AWS::Lambda::LayerVersion").values()
    }
    url = _hub(estate_synth).resolve(
        _one(estate_synth.templates["VpnDoctor"], "AWS::CloudFormation::StackSet")[1]["Properties"]["TemplateURL"]
    )
    with mocked_aws():
        for region in SPOKE_REGIONS:
            s3 = boto3.client("s3", region_name=region)
            bucket = f"vpn-doctor-assets-{ACCOUNT}-{region}"
            config = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
            s3.create_bucket(Bucket=bucket, **config)
        out = io.StringIO()
        monkeypatch.setattr("sys.stdout", out)
        assert main(["publish-assets", "--cdk-out", str(estate_synth.directory), "--json"]) == 0
        first = json.loads(out.getvalue())
        assert {line["status"] for line in first} == {"uploaded"}
        for region in SPOKE_REGIONS:
            s3 = boto3.client("s3", region_name=region)
            bucket = f"vpn-doctor-assets-{ACCOUNT}-{region}"
            stored = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
            assert keys <= stored  # every function and layer of the template, in every spoke region
        hub_bucket = boto3.client("s3", region_name=REGION)
        template_key = url.rsplit("/", 1)[1]
        body = hub_bucket.get_object(Bucket=f"vpn-doctor-assets-{ACCOUNT}-{REGION}", Key=template_key)["Body"].read()
        assert json.loads(body) == spoke  # the StackSet's TemplateURL serves this synth's spoke
        code_key = next(iter(resources(spoke, "AWS::Lambda::Function").values()))["Properties"]["Code"]["S3Key"]
        code = hub_bucket.get_object(Bucket=f"vpn-doctor-assets-{ACCOUNT}-{REGION}", Key=code_key)["Body"].read()
        assert "handlers/estate_sync.py" in zipfile.ZipFile(io.BytesIO(code)).namelist()
        # Content-addressed keys: a second run uploads nothing.
        out.truncate(0)
        out.seek(0)
        assert main(["publish-assets", "--cdk-out", str(estate_synth.directory), "--json"]) == 0
        assert {line["status"] for line in json.loads(out.getvalue())} == {"present"}


def test_publish_assets_says_what_to_do_without_an_estate_synth(
    default_synth: Synth, capsys: pytest.CaptureFixture[str]
) -> None:
    from vpn_doctor_tools.cli.main import main  # noqa: PLC0415

    assert main(["publish-assets", "--cdk-out", str(default_synth.directory)]) == 2
    assert 'run `cdk synth` with "deployment": "estate" first' in capsys.readouterr().err


# --- the configuration says what an estate deployment is missing --------------------------------------------------

_HUB = {"hub_account_id": ACCOUNT, "hub_region": REGION}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"estate": {"organization_id": ORGANIZATION}}, "estate is only read with deployment hub, spoke or estate"),
        ({"deployment": "hub"}, "the hub admits an organization or listed accounts"),
        (
            {"deployment": "hub", "estate": {"organization_id": ORGANIZATION, "account_ids": [MEMBER]}},
            "set estate.organization_id or estate.account_ids, not both",
        ),
        ({"deployment": "spoke"}, "a spoke forwards to the hub: set estate.hub_account_id and estate.hub_region"),
        (
            {"deployment": "spoke", "slack_secret_name": "vpn-doctor/slack", "estate": _HUB},
            "a spoke sends no alerts (the hub does): remove slack",
        ),
        (
            {"deployment": "estate", "estate": {"organization_id": ORGANIZATION, **_HUB}},
            "the StackSet needs targets: set estate.organizational_unit_ids and estate.regions",
        ),
        (
            {
                "deployment": "estate",
                "network_manager_events": True,
                "estate": {
                    "organization_id": ORGANIZATION,
                    **_HUB,
                    "organizational_unit_ids": ["ou-ab12-cd34ef56"],
                    "regions": [REGION],
                },
            },
            "network_manager_events needs a known region",
        ),
        ({"deployment": "everywhere"}, "deployment: Input should be 'single', 'hub', 'spoke' or 'estate'"),
    ],
)
def test_an_incomplete_estate_configuration_is_refused_with_what_is_missing(raw: dict[str, Any], message: str) -> None:
    from stacks.config import ConfigError  # noqa: PLC0415

    with pytest.raises(ConfigError) as error:
        parse_config(raw)
    assert message in str(error.value)
    assert "got {" not in str(error.value)  # the whole configuration is not repeated back


@pytest.mark.parametrize(
    ("estate", "message"),
    [
        ({"organization_id": "org-1"}, "estate.organization_id: not valid"),
        ({"account_ids": ["12345"]}, "estate.account_ids.0: not valid"),
        ({"account_ids": [MEMBER, MEMBER]}, "estate.account_ids: an entry is listed twice"),
        ({"hub_region": "Europe"}, "estate.hub_region: not valid"),
        ({"organizational_unit_ids": ["ou-1"]}, "estate.organizational_unit_ids.0: not valid"),
        ({"stack_set": True}, "estate.stack_set: unknown key"),
    ],
)
def test_bad_estate_values_name_their_key(estate: dict[str, Any], message: str) -> None:
    from stacks.config import ConfigError  # noqa: PLC0415

    with pytest.raises(ConfigError) as error:
        parse_config({"deployment": "hub", "estate": {"organization_id": ORGANIZATION, **estate}})
    assert message in str(error.value)


def test_every_delivery_the_hub_and_the_spokes_wire_is_allowed_by_its_receiver(
    estate_synth: Synth, spoke_synth: Synth
) -> None:
    # The resource-policy contract of a single deployment (test_resource_policy_contract.py), on the estate's
    # stacks: the spoke's forward (its role; the hub's side is the bus policy test above), the silence
    # subscription (SNS for the hub's topic invoking estate_sync), the held-alert rule, the alarms and queues.
    from tests.infra.test_resource_policy_contract import check, deliveries, stacks  # noqa: PLC0415

    templates = [
        *stacks(estate_synth),
        StackTemplate(STACK_SET_SPOKE, estate_synth.templates[STACK_SET_SPOKE], MEMBER, "us-east-1"),
        *stacks(spoke_synth),
    ]
    refused = {
        stack.name: problems
        for stack in templates
        if (problems := [problem for delivery in deliveries(stack) for problem in check(stack, delivery)])
    }
    assert refused == {}
    spoke = templates[-1]
    origins = " ".join(delivery.origin for delivery in deliveries(spoke))
    assert "SpokeSilenceSubscription" in origins
    assert "SpokeForwardToHub" in origins
