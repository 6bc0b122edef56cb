"""What the ingest function loads on a cold start, in a fresh interpreter set up as Lambda runs it.

Most ingest batches are healthy rekey chatter: they must be read without importing boto3 and the
incident machinery (about 100 ms of every cold start). The first batch with a failure loads them,
and botocore is traced (X-Ray) from then on.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import subscription_document, tunnel_record
from vpn_doctor.constants import ENV_EVENT_BUS_NAME, ENV_INCIDENTS_TABLE
from vpn_doctor.subscription import encode_subscription_data

ROOT = Path(__file__).resolve().parents[2]

# Runs in the fresh interpreter: imports nothing of the test suite (whose helpers may use boto3).
_SCRIPT = r"""
import json, sys
from aws_xray_sdk.core import patcher
import handlers.ingest as ingest

class Context:  # what Powertools reads of the Lambda context
    function_name = "vpn-doctor-ingest"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:111122223333:function:vpn-doctor-ingest"
    aws_request_id = "cold-start"

def loaded():
    return ("boto3" in sys.modules, "handlers.incident_runtime" in sys.modules, "botocore" in patcher._PATCHED_MODULES)

seen = {"import": loaded()}
report = ingest.handler(json.load(sys.stdin), Context())
seen["healthy batch"] = loaded()
ingest.ports()
seen["incident runtime"] = loaded()
print(json.dumps({"seen": seen, "records": report["records"], "failures": len(report["findings"])}))
"""


def _lambda_environment() -> dict[str, str]:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_", "_X_AMZN"))
    }
    environment.update(
        {
            # What the Lambda runtime sets (the X-Ray SDK and Powertools' Tracer read these).
            "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
            "AWS_LAMBDA_FUNCTION_NAME": "vpn-doctor-ingest",
            "_X_AMZN_TRACE_ID": "Root=1-6746a4c0-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=0",
            "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
            "AWS_REGION": "eu-west-1",
            ENV_INCIDENTS_TABLE: "vpn-doctor-incidents",  # incidents configured: still not loaded
            ENV_EVENT_BUS_NAME: "vpn-doctor",
            "POWERTOOLS_METRICS_NAMESPACE": "VpnDoctor",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
        }
    )
    return environment


def test_a_healthy_batch_is_read_without_boto3_and_the_first_failure_loads_and_traces_it() -> None:
    chatter = [
        tunnel_record("AWS tunnel is sending request (id=0x1a) for CREATE_CHILD_SA", 1764196800, phase2="rekeying"),
        tunnel_record("AWS tunnel processed response (id=0x1a) for CREATE_CHILD_SA", 1764196801),
        tunnel_record("AWS tunnel is sending request (id=0x1b) for CREATE_CHILD_SA", 1764200400, phase2="rekeying"),
    ]
    event = {"awslogs": {"data": encode_subscription_data(subscription_document(chatter))}}
    result = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        input=json.dumps(event),
        cwd=ROOT,
        env=_lambda_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome["records"] == 3
    assert outcome["failures"] == 0
    # (boto3 imported, incident runtime imported, botocore traced)
    assert outcome["seen"] == {
        "import": [False, False, False],
        "healthy batch": [False, False, False],
        "incident runtime": [True, True, True],
    }
