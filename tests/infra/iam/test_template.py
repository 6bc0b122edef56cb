"""The template resolver gives references the names and ARNs CloudFormation would (each type's Return values)."""

from __future__ import annotations

import pytest

from tests.infra.iam.template import StackTemplate

TEMPLATE = {
    "Resources": {
        "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "vpn-doctor"}},
        "Rule": {"Type": "AWS::Events::Rule", "Properties": {"EventBusName": {"Ref": "Bus"}}},
        "DefaultRule": {"Type": "AWS::Events::Rule", "Properties": {}},
        "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/aws/vendedlogs/x"}},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "Layer": {"Type": "AWS::Lambda::LayerVersion", "Properties": {}},
    }
}
STACK = StackTemplate("Test", TEMPLATE, "111122223333", "eu-west-1")


def test_refs_give_what_each_type_returns() -> None:
    # SNS topic: its ARN; SQS queue: its URL; event bus: its name (AWS::*::* "Return values").
    assert STACK.resolve({"Ref": "Topic"}) == "arn:aws:sns:eu-west-1:111122223333:Topic"
    assert STACK.resolve({"Ref": "Queue"}) == "https://sqs.eu-west-1.amazonaws.com/111122223333/Queue"
    assert STACK.resolve({"Ref": "Bus"}) == "vpn-doctor"
    assert STACK.resolve({"Ref": "AWS::Partition"}) == "aws"


def test_arns_follow_each_service_format() -> None:
    # A rule on a custom bus is rule/<bus>/<rule>; a log group's Arn attribute ends in ":*"; roles have no region.
    assert STACK.get_att("Rule", "Arn") == "arn:aws:events:eu-west-1:111122223333:rule/vpn-doctor/Rule"
    assert STACK.get_att("DefaultRule", "Arn") == "arn:aws:events:eu-west-1:111122223333:rule/DefaultRule"
    assert STACK.get_att("Group", "Arn") == "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/vendedlogs/x:*"
    assert STACK.get_att("Role", "Arn") == "arn:aws:iam::111122223333:role/Role"


def test_join_and_sub_resolve_their_parts() -> None:
    joined = {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":sqs:", {"Ref": "AWS::Region"}, ":x"]]}
    assert STACK.resolve(joined) == "arn:aws:sqs:eu-west-1:x"
    sub = {"Fn::Sub": ["${AWS::AccountId}/${Queue.Arn}/${Name}", {"Name": "n"}]}
    assert STACK.resolve(sub) == "111122223333/arn:aws:sqs:eu-west-1:111122223333:Queue/n"


def test_a_reference_not_modelled_raises_instead_of_guessing() -> None:
    with pytest.raises(KeyError):
        STACK.get_att("Layer", "LayerVersionArn")
    with pytest.raises(KeyError):
        STACK.resolve({"Fn::If": ["Cond", "a", "b"]})
