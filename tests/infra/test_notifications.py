"""Notifications: KMS-encrypted topic with email subscriptions; notify reads the Slack, Teams and PagerDuty
secrets by name only, each channel with its dead-letter queue and alarm; the routing reaches notify."""

from __future__ import annotations

import json

from tests.infra.cfn import allows, as_list, function, function_statements, resources
from tests.infra.conftest import ACCOUNT, REGION, Synth
from tests.infra.iam.evaluator import Decision, Request, evaluate
from tests.infra.iam.template import stack_templates
from vpn_doctor.constants import (
    DETAIL_TYPE_ALERT,
    ENV_ALERT_TOPIC_ARN,
    ENV_CHATBOT_FORMAT,
    ENV_INCIDENTS_TABLE,
    ENV_OPSGENIE_API_URL,
    ENV_OPSGENIE_DLQ_URL,
    ENV_OPSGENIE_SECRET_NAME,
    ENV_PAGERDUTY_DLQ_URL,
    ENV_PAGERDUTY_SECRET_NAME,
    ENV_ROUTING,
    ENV_SLACK_DLQ_URL,
    ENV_SLACK_SECRET_NAME,
    ENV_STORM_CONNECTIONS,
    ENV_STORM_WINDOW_SECONDS,
    ENV_TEAMS_DLQ_URL,
    ENV_TEAMS_SECRET_NAME,
    ENV_TUNNEL_LOG_GROUP_ARN,
    EVENT_SOURCE,
)
from vpn_doctor.routing import parse_routing


def test_alert_topic_is_encrypted_with_a_rotating_customer_managed_key(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    (topic,) = resources(template, "AWS::SNS::Topic").values()
    (key_id, key), *_ = resources(template, "AWS::KMS::Key").items()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True


def test_only_this_accounts_alarms_and_eventbridge_may_use_the_topic_key(default_synth: Synth) -> None:
    (key,) = resources(default_synth.templates["VpnDoctor"], "AWS::KMS::Key").values()
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    alarms, events = statements["AllowAlarmsOfThisAccount"], statements["AllowEventRules"]
    assert alarms["Principal"]["Service"] == "cloudwatch.amazonaws.com"
    assert alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = alarms["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Join"][1]
    assert source[-3:] == [":", {"Ref": "AWS::AccountId"}, ":alarm:*"]
    assert events["Principal"]["Service"] == "events.amazonaws.com"
    assert "Condition" not in events  # EventBridge's request carries no source keys: a condition drops every event
    for statement in (alarms, events):
        assert sorted(statement["Action"]) == ["kms:Decrypt", "kms:GenerateDataKey*"]


def test_topic_refuses_publishing_without_tls(default_synth: Synth) -> None:
    (policy,) = resources(default_synth.templates["VpnDoctor"], "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert any(
        s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
    )


def test_each_configured_email_is_subscribed(full_synth: Synth, default_synth: Synth) -> None:
    subscriptions = resources(full_synth.templates["VpnDoctor"], "AWS::SNS::Subscription").values()
    assert sorted((s["Properties"]["Protocol"], s["Properties"]["Endpoint"]) for s in subscriptions) == [
        ("email", "netops@example.com"),
        ("email", "oncall@example.com"),
    ]
    assert resources(default_synth.templates["VpnDoctor"], "AWS::SNS::Subscription") == {}


def test_slack_secret_is_referenced_by_name_never_created(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    assert resources(template, "AWS::SecretsManager::Secret") == {}
    _, props = function(template, "notify")
    assert props["Environment"]["Variables"][ENV_SLACK_SECRET_NAME] == "vpn-doctor/slack-webhook"
    statements = function_statements(template, "notify")
    readable = [
        resource for s in statements if "secretsmanager:GetSecretValue" in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    ]  # fmt: skip
    # The channels' secrets and the owners' own, by name (any version suffix); the region is known, so the
    # partition is a literal.
    assert sorted(readable) == [
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:vpn-doctor/{name}-??????"
        for name in (
            "opsgenie-api-key",
            "pagerduty-emea",
            "pagerduty-routing-key",
            "slack-webhook",
            "teams-emea",
            "teams-webhook",
        )
    ]


def test_without_a_slack_secret_there_is_no_slack_queue_secret_access_or_slack_variable(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    _, props = function(template, "notify")
    assert not {ENV_SLACK_SECRET_NAME, ENV_SLACK_DLQ_URL} & set(props["Environment"]["Variables"])
    actions = [a for s in function_statements(template, "notify") for a in as_list(s["Action"])]
    assert not [a for a in actions if a.startswith("secretsmanager:")]
    assert not [key for key in resources(template, "AWS::SQS::Queue") if key.startswith("NotificationsSlack")]
    assert not [
        alarm for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if "Slack" in alarm["Properties"].get("AlarmDescription", "")
    ]  # fmt: skip


def test_notify_environment_is_the_configured_channels_variables_and_its_table(
    full_synth: Synth, default_synth: Synth
) -> None:
    # The storm thresholds: notify's roll-up decides storms (vpn_doctor.rollup).
    common = {ENV_INCIDENTS_TABLE, ENV_TUNNEL_LOG_GROUP_ARN, ENV_STORM_CONNECTIONS, ENV_STORM_WINDOW_SECONDS}
    topic = {ENV_ALERT_TOPIC_ARN, ENV_CHATBOT_FORMAT}
    webhooks = {ENV_SLACK_SECRET_NAME, ENV_SLACK_DLQ_URL, ENV_TEAMS_SECRET_NAME, ENV_TEAMS_DLQ_URL}
    pager = {ENV_PAGERDUTY_SECRET_NAME, ENV_PAGERDUTY_DLQ_URL, ENV_ROUTING}
    pager |= {ENV_OPSGENIE_SECRET_NAME, ENV_OPSGENIE_DLQ_URL, ENV_OPSGENIE_API_URL}
    for synth, expected in ((default_synth, common | topic), (full_synth, common | topic | webhooks | pager)):
        _, props = function(synth.templates["VpnDoctor"], "notify")
        assert {name for name in props["Environment"]["Variables"] if name.startswith("VPN_DOCTOR_")} == expected


def test_slack_dead_letter_queue_depth_alarms_to_the_topic(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    _, props = function(template, "notify")
    dlq_id = props["Environment"]["Variables"][ENV_SLACK_DLQ_URL]["Ref"]
    [alarm] = [
        alarm["Properties"] for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
        if alarm["Properties"].get("Dimensions")
        == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
    ]  # fmt: skip
    assert alarm["AlarmActions"] == [{"Ref": topic_id}]
    assert "Slack" in alarm["AlarmDescription"]


def test_notify_publishes_to_the_topic_and_parks_undeliverable_slack_messages(full_synth: Synth) -> None:
    template = full_synth.templates["VpnDoctor"]
    _, props = function(template, "notify")
    variables = props["Environment"]["Variables"]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    assert variables[ENV_ALERT_TOPIC_ARN] == {"Ref": topic_id}
    assert variables[ENV_CHATBOT_FORMAT] == "true"
    # Idempotency (one alert -> one e-mail, one Slack message) is kept in the incidents table.
    table_id = variables[ENV_INCIDENTS_TABLE]["Ref"]
    assert resources(template, "AWS::DynamoDB::Table")[table_id]["Properties"]["TimeToLiveSpecification"]
    assert variables[ENV_TUNNEL_LOG_GROUP_ARN]["Fn::Join"][1][-1] == ":log-group:/aws/vpn/tunnels"  # for links
    dlq_id = variables[ENV_SLACK_DLQ_URL]["Ref"]
    statements = function_statements(template, "notify")
    assert allows(statements, "sns:Publish", {"Ref": topic_id})
    assert allows(statements, "sqs:SendMessage", {"Fn::GetAtt": [dlq_id, "Arn"]})


def test_notify_is_called_for_every_alert_on_the_bus(default_synth: Synth) -> None:
    template = default_synth.templates["VpnDoctor"]
    notify_id, _ = function(template, "notify")
    patterns = [
        rule["Properties"]["EventPattern"] for rule in resources(template, "AWS::Events::Rule").values()
        if rule["Properties"]["Targets"][0]["Arn"] == {"Fn::GetAtt": [notify_id, "Arn"]}
    ]  # fmt: skip
    assert patterns == [{"detail-type": [DETAIL_TYPE_ALERT], "source": [EVENT_SOURCE]}]


def test_teams_and_pagerduty_each_read_their_secret_by_name_and_park_refusals_in_their_alarmed_queue(
    full_synth: Synth,
) -> None:
    template = full_synth.templates["VpnDoctor"]
    (topic_id,) = resources(template, "AWS::SNS::Topic")
    _, props = function(template, "notify")
    variables = props["Environment"]["Variables"]
    statements = function_statements(template, "notify")
    for label, secret_variable, queue_variable, secret in (
        ("Teams", ENV_TEAMS_SECRET_NAME, ENV_TEAMS_DLQ_URL, "vpn-doctor/teams-webhook"),
        ("PagerDuty", ENV_PAGERDUTY_SECRET_NAME, ENV_PAGERDUTY_DLQ_URL, "vpn-doctor/pagerduty-routing-key"),
        ("Opsgenie", ENV_OPSGENIE_SECRET_NAME, ENV_OPSGENIE_DLQ_URL, "vpn-doctor/opsgenie-api-key"),
    ):
        assert variables[secret_variable] == secret
        dlq_id = variables[queue_variable]["Ref"]
        assert allows(statements, "sqs:SendMessage", {"Fn::GetAtt": [dlq_id, "Arn"]})
        assert any(
            "secretsmanager:GetSecretValue" in as_list(s["Action"]) and f":secret:{secret}-??????" in json.dumps(s)
            for s in statements
        )
        [alarm] = [
            alarm["Properties"] for alarm in resources(template, "AWS::CloudWatch::Alarm").values()
            if alarm["Properties"].get("Dimensions")
            == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
        ]  # fmt: skip
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert label in alarm["AlarmDescription"]


def test_the_routing_reaches_notify_as_the_validated_json_it_reads(full_synth: Synth, default_synth: Synth) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], "notify")
    routing = parse_routing(props["Environment"]["Variables"][ENV_ROUTING])

    assert routing.route("network-emea").channels == ("sns", "teams", "pagerduty")
    assert routing.route("anyone").channels == ("sns", "slack")
    _, default = function(default_synth.templates["VpnDoctor"], "notify")
    assert ENV_ROUTING not in default["Environment"]["Variables"]


def test_notify_may_read_exactly_the_channels_and_the_owners_secrets_as_iam_evaluates_it(full_synth: Synth) -> None:
    # GetSecretValue by name, as notify calls it: IAM matches the secret's ARN, which ends in a random suffix.
    (stack,) = [
        s
        for s in stack_templates(full_synth.directory, full_synth.templates, account=ACCOUNT, region=REGION)
        if s.name == "VpnDoctor"
    ]
    role_id = function(full_synth.templates["VpnDoctor"], "notify")[1]["Role"]["Fn::GetAtt"][0]
    statements = stack.identity_statements(role_id)

    def readable(name: str) -> bool:
        arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
        return evaluate(statements, Request("secretsmanager:GetSecretValue", arn)) is Decision.ALLOW

    owned = ("vpn-doctor/teams-emea", "vpn-doctor/pagerduty-emea")
    channels = (
        "vpn-doctor/slack-webhook",
        "vpn-doctor/teams-webhook",
        "vpn-doctor/pagerduty-routing-key",
        "vpn-doctor/opsgenie-api-key",
    )
    assert all(readable(name) for name in owned + channels)
    for other in ("vpn-doctor/slack-apac", "vpn-doctor/teams-emea-old", "vpn-doctor/teams", "prod/database"):
        assert not readable(other), other
    routing = parse_routing(
        function(full_synth.templates["VpnDoctor"], "notify")[1]["Environment"]["Variables"][ENV_ROUTING]
    )
    assert set(routing.owner_secrets.values()) == set(owned)  # what notify reads is what it may read


def test_opsgenie_in_the_eu_instance_is_sent_to_the_eu_api(full_synth: Synth, default_synth: Synth) -> None:
    _, props = function(full_synth.templates["VpnDoctor"], "notify")
    assert props["Environment"]["Variables"][ENV_OPSGENIE_API_URL] == "https://api.eu.opsgenie.com"
    _, props = function(default_synth.templates["VpnDoctor"], "notify")
    assert ENV_OPSGENIE_SECRET_NAME not in props["Environment"]["Variables"]
