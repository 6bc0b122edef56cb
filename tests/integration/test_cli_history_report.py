"""``vpn-doctor history`` and ``vpn-doctor report`` against moto: the stack's tables found through CloudFormation,
the items written by the real stores, read back with the real reader."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.conftest import fake_aws_environment, mocked_aws
from tests.integration.test_report_handler import NOW, REMEDIATION_TABLE, TABLE, VPN_A, VPN_B, seed
from vpn_doctor_tools.cli.history import StoreLocation, run_history
from vpn_doctor_tools.cli.report import run_report
from vpn_doctor_tools.emulator.dynamodb import create_pipeline_table

_TABLE_PROPERTIES = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "BillingMode": "PAY_PER_REQUEST",
}


def clients(service: str) -> Any:
    return boto3.client(service)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    fake_aws_environment(monkeypatch)
    with mocked_aws(TABLE) as dynamodb:
        create_pipeline_table(dynamodb, REMEDIATION_TABLE)
        seed(dynamodb)
        yield dynamodb


def history(*args: str, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    location = kwargs.pop("location", StoreLocation(table=TABLE, remediation_table=REMEDIATION_TABLE))
    code = run_history(location, out=out, err=err, now=NOW, client_factory=clients, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_history_lists_each_connections_incidents_with_cause_duration_and_changes(store: Any) -> None:
    code, out, _ = history(since="30d", vpn_id=None, json_output=False)
    assert code == 0
    assert f"{VPN_A} (2 incidents)" in out
    assert "2026-11-27T08:00:00Z -> 2026-11-27T08:20:00Z  20m  psk_mismatch" in out
    assert "change 2026-11-28T08:05:00Z: applied set_dpd_timeout_action_restart" in out
    assert "change 2026-11-27T08:05:00Z: logging confirmed enable_tunnel_logging (tunnel logging on)" in out
    assert f"{VPN_B} (1 incident)" in out
    assert "2026-11-20T08:00:00Z -> still open  10d 0h so far  no_response" in out


def test_history_of_one_connection_as_json(store: Any) -> None:
    code, out, _ = history(since="30d", vpn_id=VPN_B, json_output=True)
    document = json.loads(out)
    assert code == 0
    assert [(i["vpn_connection_id"], i["cause"], i["end"]) for i in document["incidents"]] == [
        (VPN_B, "no_response", None)
    ]


def test_history_since_one_day_leaves_out_what_ended_before(store: Any) -> None:
    _, out, _ = history(since="1d", vpn_id=None, json_output=False)
    assert VPN_A not in out  # both of its incidents ended two and three days ago
    assert VPN_B in out  # still open


def test_the_stacks_tables_are_found_through_cloudformation(store: Any) -> None:
    template = {
        "Resources": {
            "IncidentsTable1A2B3C4D": {"Type": "AWS::DynamoDB::Table", "Properties": _TABLE_PROPERTIES},
            "RemediationTable5E6F7A8B": {"Type": "AWS::DynamoDB::Table", "Properties": _TABLE_PROPERTIES},
        }
    }
    boto3.client("cloudformation").create_stack(StackName="VpnDoctor", TemplateBody=json.dumps(template))
    code, out, err = history(since="30d", vpn_id=None, json_output=False, location=StoreLocation())
    # The stack's (new, empty) tables are read, not the seeded ones.
    assert (code, err) == (0, "")
    assert out.endswith(": none\n")


def test_a_missing_stack_is_a_sentence_not_a_traceback(store: Any) -> None:
    code, _, err = history(since="30d", vpn_id=None, json_output=False, location=StoreLocation(stack="Nope"))
    assert code == 2
    assert err.startswith("vpn-doctor history: cannot read stack Nope: ValidationError")


def test_a_bad_since_is_refused(store: Any) -> None:
    code, _, err = history(since="7 days", vpn_id=None, json_output=False)
    assert code == 2
    assert "not a duration" in err


def report(tmp_path: Path | None = None, **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    html = str(tmp_path / "report.html") if tmp_path else None
    location = StoreLocation(table=TABLE, remediation_table=REMEDIATION_TABLE)
    code = run_report(location, since="7d", html_file=html, out=out, err=err, now=NOW, client_factory=clients, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_report_prints_availability_causes_and_changes(store: Any) -> None:
    code, out, _ = report(json_output=False)
    assert code == 0
    assert f"{VPN_A}: both tunnels up" in out
    assert "Time to recovery: median 20m, p90 2h 00m" in out
    assert "applied set_dpd_timeout_action_restart" in out


def test_report_as_json_counts_unknown_time_apart_from_up(store: Any) -> None:
    _, out, _ = report(json_output=True)
    document = json.loads(out)
    connection_b = next(c for c in document["connections"] if c["vpn_connection_id"] == VPN_B)
    # B's second tunnel has a record only since three days ago; its first has been down for ten days.
    assert connection_b["both_tunnels_up"]["up_seconds"] == 0
    assert connection_b["at_least_one_tunnel_up"]["unknown_seconds"] == 4 * 86400  # down, or unknown: unknown
    assert connection_b["at_least_one_tunnel_up"]["up_seconds"] == 3 * 86400
    assert document["incidents_by_cause"] == {"psk_mismatch": 1, "peer_not_responsive": 1, "no_response": 1}


def test_report_writes_a_self_contained_html_page(store: Any, tmp_path: Path) -> None:
    code, out, _ = report(tmp_path, json_output=False)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert code == 0
    assert "HTML report written to" in out
    assert VPN_A in page
    assert 'id="availability-timeline"' in page
    assert "<script src=" not in page  # Plotly inlined: nothing fetched at view time


def test_an_unwritable_html_file_is_a_sentence(store: Any, tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    location = StoreLocation(table=TABLE, remediation_table=REMEDIATION_TABLE)
    html = str(tmp_path / "missing" / "report.html")
    code = run_report(
        location, since="7d", html_file=html, json_output=False, out=out, err=err, now=NOW, client_factory=clients
    )
    assert code == 1
    assert "cannot write" in err.getvalue()


def test_an_unreadable_store_item_is_left_out_and_said_not_a_crash(store: Any) -> None:
    store.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"TUNNEL#{VPN_A}#192.0.2.1"}, "sk": {"S": "INCIDENT#x"}, "doc": {"S": "{not json"}},
    )
    store.put_item(
        TableName=TABLE,
        Item={"pk": {"S": f"TUNNEL#{VPN_A}#192.0.2.2"}, "sk": {"S": "STATE"}, "doc": {"S": '{"vpn_connection_id": 1}'}},
    )
    store.put_item(
        TableName=REMEDIATION_TABLE,
        Item={"pk": {"S": f"AUDIT#{VPN_A}"}, "sk": {"S": "2026-11-29T00:00:00Z#x#y"}, "status": {"S": "applied"}},
    )
    code, out, err = history(since="30d", vpn_id=None, json_output=False)
    assert code == 0
    assert f"{VPN_A} (2 incidents)" in out
    assert err == "vpn-doctor history: 3 unreadable store item(s) left out\n"
    code, _, err = report(json_output=True)
    assert (code, err) == (0, "vpn-doctor report: 3 unreadable store item(s) left out\n")


def test_a_key_like_value_in_a_stored_text_never_reaches_the_output(store: Any) -> None:
    secret = "Sup3rSecretPsk_value"
    store.put_item(
        TableName=REMEDIATION_TABLE,
        Item={
            "pk": {"S": f"AUDIT#{VPN_A}"},
            "sk": {"S": "2026-11-29T00:00:00Z#203.0.113.10#e"},
            "vpn_connection_id": {"S": VPN_A},
            "tunnel_ip": {"S": "203.0.113.10"},
            "decided_at": {"S": "2026-11-29T00:00:00Z"},
            "status": {"S": "failed"},
            "reason": {"S": f"InvalidParameterValue: PreSharedKey={secret} is invalid"},
        },
    )
    _, history_text, _ = history(since="30d", vpn_id=None, json_output=True)
    _, report_text, _ = report(json_output=False)
    assert "InvalidParameterValue" in report_text
    assert secret not in history_text + report_text
