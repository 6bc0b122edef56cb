"""cfn-lint on every synthesized template: no errors, and no warnings but one explained CDK artefact."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.infra.conftest import Synth

# W3005: CDK adds an explicit DependsOn on the role's default policy next to the GetAtt of the role; harmless.
ACCEPTED = {"W3005"}
CFN_LINT = Path(sys.executable).parent / "cfn-lint"


def test_synthesized_templates_pass_cfn_lint(all_synths: tuple[Synth, ...]) -> None:
    paths = [str(path) for synth in all_synths for path in sorted(synth.directory.glob("*.template.json"))]
    assert len(paths) == 4
    result = subprocess.run([str(CFN_LINT), "--format", "json", *paths], capture_output=True, text=True, check=False)
    findings = json.loads(result.stdout or "[]")
    problems = [
        f"{f['Rule']['Id']} {f['Filename']} {f['Message']}" for f in findings if f["Rule"]["Id"] not in ACCEPTED
    ]
    assert problems == []
    assert result.returncode in {0, 4}, result.stderr  # 4 = warnings only
