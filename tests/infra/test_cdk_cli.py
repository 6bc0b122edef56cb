"""A real ``cdk synth`` through the project's npm aws-cdk CLI, with asset bundling: ``cdk deploy`` is one step away."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.packaging import function_code_files

ROOT = Path(__file__).resolve().parents[2]
CDK = ROOT / "node_modules" / ".bin" / "cdk"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CDK.exists(), reason="the aws-cdk CLI is installed by `make cdk-deps` (npm ci)"),
]


@pytest.fixture(scope="module")
def cloud_assembly(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run ``cdk synth`` exactly like ``make synth`` (venv python first on PATH), into a fresh directory."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        # This checkout's core, whichever checkout the virtual environment's editable install points at.
        "PYTHONPATH": os.pathsep.join(str(ROOT / path) for path in ("functions", ".")),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        # No AWS account here: do not let the CLI wait for instance metadata or report telemetry.
        "AWS_EC2_METADATA_DISABLED": "true",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    }
    result = subprocess.run(
        [str(CDK), "synth", "--quiet", "--no-notices", "--no-version-reporting", "--output", str(outdir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return outdir


def test_cdk_synth_produces_the_deployable_stack(cloud_assembly: Path) -> None:
    manifest = json.loads((cloud_assembly / "manifest.json").read_text(encoding="utf-8"))
    stacks = {name: a for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    assert list(stacks) == ["VpnDoctor"]
    template = json.loads((cloud_assembly / "VpnDoctor.template.json").read_text(encoding="utf-8"))
    handlers = sorted(
        r["Properties"]["Handler"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    )
    assert handlers == [
        f"handlers.{m}.handler"
        for m in ("ingest", "notify", "onboard", "poller", "post_check", "report", "respond", "state", "watchdog")
    ]


def test_cdk_nag_passed_during_the_cli_synth(cloud_assembly: Path) -> None:
    report = json.loads((cloud_assembly / "validation-report.json").read_text(encoding="utf-8"))
    assert [(r["pluginName"], r["conclusion"], r["violations"]) for r in report["pluginReports"]] == [
        ("AwsSolutions", "success", [])
    ]


def test_dependencies_layer_was_bundled_for_arm64_without_docker(cloud_assembly: Path) -> None:
    template = json.loads((cloud_assembly / "VpnDoctor.template.json").read_text(encoding="utf-8"))
    (layer,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::LayerVersion"]
    asset = cloud_assembly / layer["Metadata"]["aws:asset:path"]
    assert (asset / "python" / "slack_sdk" / "__init__.py").is_file()
    assert not (asset / "python" / "pydantic").exists()  # provided by the Powertools layer


def test_function_code_asset_holds_the_core_and_handlers_only(cloud_assembly: Path) -> None:
    template = json.loads((cloud_assembly / "VpnDoctor.template.json").read_text(encoding="utf-8"))
    paths = {
        r["Metadata"]["aws:asset:path"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Function"
    }
    (code,) = paths
    asset = cloud_assembly / code
    # Exactly the allow-list (tests/infra/test_asset.py checks it against what the handlers import).
    assert sorted(path.relative_to(asset) for path in asset.rglob("*") if path.is_file()) == function_code_files()
    assert (asset / "handlers" / "ingest.py").is_file()
    assert (asset / "vpn_doctor" / "classify.py").is_file()
    assert not (asset / "vpn_doctor_tools").exists()  # local tooling: the CLI, the demo, the emulator
