"""The weekly report's resources: its function, schedule and role (calls recorded against moto, checked here)."""

from __future__ import annotations

import json

import pytest

from tests.infra.cfn import as_list, function, function_statements, has_function, resources
from tests.infra.conftest import Synth, synthesize
from tests.infra.test_grants_contract import granted_actions
from tests.integration.test_report_handler import report_aws, run, running_chats
from vpn_doctor.constants import ENV_REMEDIATION_TABLE, ENV_REPORT_PERIOD_DAYS


def _schedules(synth: Synth) -> list[str]:
    template = synth.templates["VpnDoctor"]
    function_id, _ = function(template, "report")
    return [
        rule["Properties"]["ScheduleExpression"]
        for rule in resources(template, "AWS::Events::Rule").values()
        if "ScheduleExpression" in rule["Properties"]
        and any(target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]} for target in rule["Properties"]["Targets"])
    ]


def test_the_report_runs_weekly_on_monday_morning_utc_over_seven_days(default_synth: Synth) -> None:
    assert _schedules(default_synth) == ["cron(0 8 ? * MON *)"]
    _, props = function(default_synth.templates["VpnDoctor"], "report")
    assert props["Environment"]["Variables"][ENV_REPORT_PERIOD_DAYS] == "7"


def test_without_remediation_the_report_reads_no_remediation_table(off_synth: Synth) -> None:
    _, props = function(off_synth.templates["VpnDoctor"], "report")
    assert ENV_REMEDIATION_TABLE not in props["Environment"]["Variables"]
    statements = [
        statement
        for statement in function_statements(off_synth.templates["VpnDoctor"], "report")
        if "dynamodb:Query" in as_list(statement["Action"])
    ]
    assert "Remediation" not in json.dumps(statements)


def test_every_call_the_report_function_makes_is_granted_and_nothing_else(
    full_synth: Synth, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo does not run the report (test_grants_contract.py, FUNCTIONS_NOT_RUN_BY_THE_DEMO): its calls are
    # recorded on a run against moto instead, with the full configuration's chats (Slack, Teams; one of them
    # refusing, so its dead-letter queue is used). The idempotency record's calls (Powertools' own client) are the
    # ones notify makes, checked by the demo's run of notify.
    with running_chats() as chats, report_aws(monkeypatch, chats=chats) as (_, recorded):
        chats.teams.fail_next(3)
        run()
    granted = granted_actions(full_synth.templates["VpnDoctor"], "report")
    assert recorded.actions - granted == set()
    idempotency = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:GetItem", "dynamodb:DeleteItem"}
    assert granted - recorded.actions - idempotency - {"kms:Decrypt", "kms:GenerateDataKey*"} == set()


def test_report_weekly_false_creates_no_report_function(tmp_path_factory: pytest.TempPathFactory) -> None:
    synth = synthesize(tmp_path_factory.mktemp("no-report"), {"report_weekly": False}, name="no-report")
    assert not has_function(synth.templates["VpnDoctor"], "report")
