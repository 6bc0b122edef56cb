"""Every function is built by the one function construct: runtime, layers, tracing, logs, failures, alarms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk import Stack
from aws_cdk.assertions import Annotations, Match

from app import build_app
from stacks.config import ConfigError, parse_config
from stacks.packaging import bundled_requirements, pinned_version, powertools_layer_arn
from tests.infra.cfn import function, has_function, resources
from tests.infra.conftest import ACCOUNT, REGION, Synth, deploy_app, synthesize
from vpn_doctor import constants

MODULES = ("ingest", "state", "poller", "respond", "notify", "post_check", "onboard", "watchdog", "report")
ENV_NAMES = {value for name, value in vars(constants).items() if name.startswith("ENV_")}


def test_every_pipeline_function_exists_when_remediation_is_on(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    assert [module for module in MODULES if not has_function(template, module)] == []
    assert len(resources(template, "AWS::Lambda::Function")) == len(MODULES)


@pytest.mark.parametrize("module", MODULES)
def test_function_runs_python313_on_arm64_with_tracing_and_json_logs(full_synth: Synth, module: str) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], module)
    assert props["Runtime"] == "python3.13"
    assert props["Architectures"] == ["arm64"]
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["LoggingConfig"]["LogFormat"] == "JSON"


@pytest.mark.parametrize("module", MODULES)
def test_function_environment_uses_only_names_from_constants(full_synth: Synth, module: str) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], module)
    names = set(props["Environment"]["Variables"])
    assert names - ENV_NAMES == {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"}


def test_functions_use_the_public_powertools_v3_arm64_layer_and_the_dependencies_layer(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    _, props = function(template, "notify")
    powertools, dependencies = props["Layers"]
    # The layer of exactly the pinned Powertools release, from Powertools' public SSM parameter at deploy time.
    parameter = template["Parameters"][powertools["Ref"]]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert (
        parameter["Default"]
        == f"/aws/service/powertools/python/arm64/python3.13/{pinned_version('aws-lambda-powertools')}"
    )
    (layer,) = resources(template, "AWS::Lambda::LayerVersion").values()
    assert dependencies == {"Ref": next(iter(resources(template, "AWS::Lambda::LayerVersion")))}
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]


def test_an_explicit_powertools_layer_version_pins_the_layer_arn() -> None:
    stack = Stack(deploy_app(), "Pinned")
    parts = stack.resolve(powertools_layer_arn(stack, 27))["Fn::Join"][1]
    assert parts[-1] == ":017000801446:layer:AWSLambdaPowertoolsPythonV3-python313-arm64:27"
    assert {"Ref": "AWS::Region"} in parts


def test_the_pinned_powertools_version_is_read_from_the_runtime_requirements() -> None:
    pins = (Path(__file__).resolve().parents[2] / "functions" / "requirements.txt").read_text()
    assert f"aws-lambda-powertools[parser,tracer]=={pinned_version('aws-lambda-powertools')}" in pins


def test_only_what_the_runtime_and_powertools_layer_lack_is_bundled() -> None:
    assert [spec.split("==")[0] for spec in bundled_requirements()] == ["slack-sdk"]


def test_every_function_has_its_own_log_group_with_retention(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    groups = resources(template, "AWS::Logs::LogGroup")
    for module in MODULES:
        _, props = function(template, module)
        group_id = props["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[group_id]["Properties"]["RetentionInDays"] == 30


def test_async_failures_of_every_function_go_to_a_tls_only_encrypted_queue(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    configs = resources(template, "AWS::Lambda::EventInvokeConfig")
    queues = resources(template, "AWS::SQS::Queue")
    assert len(configs) == len(MODULES)
    for config in configs.values():
        destination = config["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
        assert destination["Fn::GetAtt"][0] in queues
        assert config["Properties"]["MaximumRetryAttempts"] == 2
    for queue in queues.values():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
    policies = resources(template, "AWS::SQS::QueuePolicy")
    tls_only = {
        queue["Ref"]
        for policy in policies.values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}} and statement["Effect"] == "Deny"
        for queue in policy["Properties"]["Queues"]
    }
    assert tls_only == set(queues)


def test_no_function_role_uses_a_managed_policy(all_synths: tuple[Synth, ...]) -> None:
    for synth in all_synths:
        for template in synth.templates.values():
            for role in resources(template, "AWS::IAM::Role").values():
                assert "ManagedPolicyArns" not in role["Properties"]


def test_a_bundled_powertools_needs_no_public_layer_or_ssm_parameter(tmp_path: Path) -> None:
    synth = synthesize(tmp_path, {"powertools_layer": "bundled"}, name="bundled")
    template = synth.templates["VpnDoctor"]
    parameters = [p["Default"] for p in template.get("Parameters", {}).values() if p["Type"].startswith("AWS::SSM")]
    assert not [name for name in parameters if "powertools" in name]
    (layer_id, layer) = next(iter(resources(template, "AWS::Lambda::LayerVersion").items()))
    for module in MODULES:
        assert function(template, module)[1]["Layers"] == [{"Ref": layer_id}]
    pin = f"aws-lambda-powertools[parser,tracer]=={pinned_version('aws-lambda-powertools')}"
    assert pin in layer["Properties"]["Description"]
    assert "017000801446" not in json.dumps(template)


def test_the_bundled_layer_installs_every_pin_so_its_botocore_matches_its_boto3() -> None:
    names = [spec.split("==")[0].split("[")[0] for spec in bundled_requirements(with_powertools=True)]
    assert names == ["aws-lambda-powertools", "pydantic", "slack-sdk", "boto3", "botocore"]


def test_the_public_layer_synth_says_where_powertools_comes_from_and_how_to_bundle_it() -> None:
    app = build_app(deploy_app(None), account=ACCOUNT, region=REGION)
    stack = app.node.find_child("VpnDoctor")
    assert isinstance(stack, Stack)
    infos = Annotations.from_stack(stack).find_info("*", Match.string_like_regexp("Unable to fetch parameters"))
    (info,) = infos
    assert '"powertools_layer": "bundled"' in str(info.entry.data)
    assert pinned_version("aws-lambda-powertools") in str(info.entry.data)


def test_a_layer_version_with_a_bundled_powertools_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="powertools_layer_version"):
        parse_config({"powertools_layer": "bundled", "powertools_layer_version": 3})
