"""cdk-nag AwsSolutions: zero unacknowledged findings, and every acknowledgement carries a real reason."""

from __future__ import annotations

from tests.infra.conftest import Synth


def test_aws_solutions_checks_pass_in_every_configuration(all_synths: tuple[Synth, ...]) -> None:
    for synth in all_synths:
        (report,) = synth.validation_report["pluginReports"]
        assert report["pluginName"] == "AwsSolutions"
        assert report["violations"] == []
        assert report["conclusion"] == "success"


def test_every_acknowledged_finding_is_justified(all_synths: tuple[Synth, ...]) -> None:
    acknowledged = [
        finding
        for synth in all_synths
        for finding in synth.validation_report["pluginReports"][0]["suppressedViolations"]
    ]
    assert acknowledged  # the IAM5/L1/SQS3 acknowledgements are visible in the report, not hidden
    for finding in acknowledged:
        assert len(finding["reason"].split()) >= 8, finding["acknowledgedId"]


def test_only_the_expected_rules_are_acknowledged(all_synths: tuple[Synth, ...]) -> None:
    rules = {
        finding["ruleName"].split("[")[0] for synth in all_synths
        for finding in synth.validation_report["pluginReports"][0]["suppressedViolations"]
    }  # fmt: skip
    assert rules == {"AwsSolutions-IAM5", "AwsSolutions-L1", "AwsSolutions-SQS3"}
