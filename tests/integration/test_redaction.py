"""A pre-shared key planted in a log line's text, or quoted by an EC2 error, never leaves vpn-doctor.

Gateways sometimes log their configuration, and an AWS error message may quote a request. The run:
tunnel log lines holding keys (after ``psk=``, ``pre-shared-key``, ``secret:``, ...) go through
ingest, respond (whose modification, in auto mode, EC2 refuses with a message quoting the connection's
real pre-shared key, known from ``DescribeVpnConnections``) and notify (e-mail with the Amazon Q chat
format, Slack), and the same lines sit in the tunnel's log group for ``vpn-doctor diagnose`` and go
through ``vpn-doctor classify``. Then every output is searched for every planted key: the CLI's
classify and diagnose (JSON and text) output, the incident and remediation items in DynamoDB, every
request sent to AWS (the bus events, SNS publishes with each protocol's text, SQS, Scheduler), what
the e-mail subscriber and Slack received, and every log and metric line.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from handlers import respond
from tests.integration.conftest import handler_logs
from tests.integration.pipeline import (
    INCIDENTS,
    LOG_GROUP,
    REGION,
    REMEDIATION,
    T1,
    T2,
    VPN,
    Fault,
    describe_answer,
    pipeline,
    pre_shared_keys,
    slack_receiver,
    tunnel_line,
)
from tests.unit.test_remediation import incident, transition
from vpn_doctor.constants import DETAIL_TYPE_INCIDENT, EVENT_SOURCE
from vpn_doctor.models import dump
from vpn_doctor.records import Evidence, Source
from vpn_doctor_tools.cli.diagnose import run_diagnose
from vpn_doctor_tools.cli.main import main
from vpn_doctor_tools.emulator.slack import SlackReceiver

#: Keys as gateways print them in their configuration, each after a keyword vpn-doctor masks.
PLANTED = {
    "psk=Gw_conf_key_41": "Gw_conf_key_41",
    'pre-shared-key 0 "Cisco.Key.0042"': "Cisco.Key.0042",
    "secret: Swan_secret_77x": "Swan_secret_77x",
    "password=Hunter2hunter2": "Hunter2hunter2",
}
DPD = "AWS tunnel DPD timed out after 3 retransmits"


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackReceiver]:
    yield from slack_receiver()


def _lines() -> list[str]:
    return [tunnel_line(f"{DPD} (peer config: {text})") for text in PLANTED]


def _repeated_dpd_timeouts(lines: list[str]) -> dict[str, Any]:
    """An incident event for tunnel 1 after repeated DPD timeouts (remediation then acts), its
    evidence the raw lines, as a bus event would carry it were they not masked when read."""
    evidence = tuple(
        Evidence(message=json.loads(line)["details"], timestamp=None, source=Source.AWS_TUNNEL_JSON) for line in lines
    )
    repeated = replace(incident(findings=2), opened_at=datetime.now(UTC) - timedelta(minutes=5), evidence=evidence)
    return {
        "id": "incident-event-2",
        "detail-type": DETAIL_TYPE_INCIDENT,
        "source": EVENT_SOURCE,
        "detail": dump(transition(repeated, event_id="evt-repeated")),
    }


def test_no_planted_or_known_pre_shared_key_reaches_any_output(
    monkeypatch: pytest.MonkeyPatch, slack: SlackReceiver, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    [real_key, *_] = sorted(pre_shared_keys())
    secrets = set(PLANTED.values()) | {real_key}
    outputs: dict[str, list[str]] = {}
    lines = _lines()

    source = tmp_path / "tunnel.log"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["classify", str(source)]) == 0
    outputs["classify"] = capsys.readouterr().out.splitlines()

    with handler_logs() as logs, pipeline(monkeypatch, slack, mode="auto") as p:
        p.faults.add(
            Fault(
                "ec2.ModifyVpnTunnelOptions",
                "InvalidParameterValue",
                1,
                400,
                message=f"Value ({real_key}) for parameter tunnelOptions is invalid.",
            )
        )
        p.faults.answers["ec2.DescribeVpnConnections"] = lambda: describe_answer(up={T2})
        p.ingest_lines(lines, tunnel_ip=T1)
        p.invoke(respond, _repeated_dpd_timeouts(lines))
        p.pump()
        emails = p.emails()
        assert emails, "the alert went out"
        outputs["emails"] = [json.dumps(email, ensure_ascii=False) for email in emails]
        outputs["slack"] = [json.dumps(post.payload, ensure_ascii=False) for post in p.slack_posts()]
        outputs["requests to AWS"] = [
            json.dumps(request, ensure_ascii=False, default=str)
            for operation, request in p.faults.requests
            if operation != "ec2.DescribeVpnConnections"  # the question, not the answer
        ]
        dynamodb = boto3.client("dynamodb")
        for table in (INCIDENTS, REMEDIATION):
            outputs[table] = [json.dumps(item, ensure_ascii=False) for item in dynamodb.scan(TableName=table)["Items"]]

        stream = f"{VPN}-{T2}"
        cloudwatch_logs = boto3.client("logs")
        cloudwatch_logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        now_ms = int(time.time() * 1000)
        cloudwatch_logs.put_log_events(
            logGroupName=LOG_GROUP,
            logStreamName=stream,
            logEvents=[{"timestamp": now_ms - 60_000, "message": line} for line in lines],
        )
        for json_output in (True, False):
            out, err = io.StringIO(), io.StringIO()
            code = run_diagnose(
                VPN,
                region=REGION,
                since="1h",
                endpoint_url=None,
                json_output=json_output,
                out=out,
                err=err,
                client_factory=boto3.client,
            )
            assert code == 0, err.getvalue()
            outputs[f"diagnose json={json_output}"] = [out.getvalue(), err.getvalue()]
        outputs["logs"] = logs.getvalue().splitlines()
    outputs["stdout (logs, metrics)"] = capsys.readouterr().out.splitlines()

    assert any(DPD in text for text in outputs["diagnose json=True"]), "diagnose read the planted lines"
    assert any("InvalidParameterValue" in text for text in outputs["emails"]), "EC2's refusal is in the alert"
    leaks = sorted(
        {
            f"{secret} in {name}"
            for name, texts in outputs.items()
            for text in texts
            for secret in secrets
            if secret in text
        }
    )
    assert leaks == []
    assert any('"RedactedValues"' in line for line in outputs["stdout (logs, metrics)"]), "redactions are counted"
