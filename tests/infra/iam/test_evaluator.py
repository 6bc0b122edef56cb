"""The evaluator against AWS's documented policy-evaluation examples (each test cites its page)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.iam.evaluator import Decision, Principal, Request, UnsupportedPolicy, evaluate

LOGIC = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"
OPERATORS = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"
MULTIVALUED = "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition_examples-multi-valued-context-keys.html"
ALARM_TOPIC = "https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger"


def allow(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    statement = {"Effect": "Allow", "Action": action, "Resource": resource, **extra}
    if condition:
        statement["Condition"] = condition
    return statement


def deny(action: Any, resource: Any = "*", condition: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {**allow(action, resource, condition, **extra), "Effect": "Deny"}


# --- Policy evaluation logic (LOGIC) -------------------------------------------------------------


def test_a_request_no_statement_allows_is_implicitly_denied() -> None:
    # LOGIC: "By default, all requests are implicitly denied".
    assert evaluate([allow("s3:GetObject")], Request("s3:PutObject", "*")) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_overrides_any_allow() -> None:
    # LOGIC: "An explicit deny in any policy overrides any allows".
    statements = [allow("s3:*"), deny("s3:DeleteObject", "arn:aws:s3:::amzn-s3-demo-bucket/*")]
    assert evaluate(statements, Request("s3:DeleteObject", "arn:aws:s3:::amzn-s3-demo-bucket/a")) is (
        Decision.EXPLICIT_DENY
    )
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::amzn-s3-demo-bucket/a")) is Decision.ALLOW


def test_not_action_allows_everything_but_the_listed_actions() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html: NotAction with
    # Allow "allows all ... actions except" the listed ones (the page's example: everything but IAM).
    statements = [{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}]
    assert evaluate(statements, Request("s3:ListAllMyBuckets", "*")) is Decision.ALLOW
    assert evaluate(statements, Request("iam:CreateUser", "*")) is Decision.IMPLICIT_DENY


def test_not_resource_excludes_the_listed_resources() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html
    statements = [{"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::HRBucket/Payroll*"}, allow("s3:*")]
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::HRBucket/Payroll-2024")) is Decision.ALLOW
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::HRBucket/Other")) is Decision.EXPLICIT_DENY


def test_actions_match_without_case_resources_with_it() -> None:
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html ("case insensitive"),
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html (ARNs are matched
    # per component; a wildcard stays within its component).
    statements = [allow("SNS:publish", "arn:aws:sns:eu-west-1:111122223333:alerts*")]
    assert evaluate(statements, Request("sns:Publish", "arn:aws:sns:eu-west-1:111122223333:alerts-x")) is Decision.ALLOW
    assert evaluate(statements, Request("sns:Publish", "arn:aws:sns:eu-west-1:111122223333:Alerts")) is (
        Decision.IMPLICIT_DENY
    )
    in_region = [allow("logs:*", "arn:aws:logs:eu-west-1:111122223333:*")]
    assert evaluate(in_region, Request("logs:PutLogEvents", "arn:aws:logs:eu-west-1:111122223333:log-group:x:*")) is (
        Decision.ALLOW
    )
    assert evaluate(in_region, Request("logs:PutLogEvents", "arn:aws:logs:us-east-1:111122223333:log-group:x")) is (
        Decision.IMPLICIT_DENY
    )
    # An action that supports no resource-level permission is requested on "*", which only "*" grants.
    assert evaluate(in_region, Request("logs:CreateLogDelivery", "*")) is Decision.IMPLICIT_DENY


# --- Condition operators (OPERATORS) -----------------------------------------------------------


def test_string_equals_needs_the_key_and_its_exact_value() -> None:
    # OPERATORS, string example: iam:*AccessKey* only for principals tagged job-category=iamuser-admin; "If the key
    # ... is not present in the request context, the values do not match".
    statements = [
        allow(
            "iam:*AccessKey*",
            "arn:aws:iam::111122223333:user/*",
            {"StringEquals": {"aws:PrincipalTag/job-category": "iamuser-admin"}},
        )
    ]
    user = "arn:aws:iam::111122223333:user/ana"
    tagged = {"aws:PrincipalTag/job-category": "iamuser-admin"}
    assert evaluate(statements, Request("iam:CreateAccessKey", user, tagged)) is Decision.ALLOW
    other = {"aws:PrincipalTag/job-category": "IAMUser-Admin"}
    assert evaluate(statements, Request("iam:CreateAccessKey", user, other)) is Decision.IMPLICIT_DENY
    assert evaluate(statements, Request("iam:CreateAccessKey", user)) is Decision.IMPLICIT_DENY


def test_string_equals_ignore_case_and_condition_key_names_ignore_case() -> None:
    # OPERATORS: StringEqualsIgnoreCase "Exact matching, ignoring case"; condition key names are not case-sensitive
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html).
    statements = [allow("ec2:*", condition={"StringEqualsIgnoreCase": {"aws:ResourceTag/Team": "netops"}})]
    assert evaluate(statements, Request("ec2:StopInstances", "*", {"AWS:RESOURCETAG/Team": "NetOps"})) is (
        Decision.ALLOW
    )
    assert evaluate(statements, Request("ec2:StopInstances", "*", {"aws:ResourceTag/Team": "dev"})) is (
        Decision.IMPLICIT_DENY
    )


def test_a_negated_operator_holds_when_the_key_is_absent() -> None:
    # OPERATORS, "Important": "If the policy condition requires that the key is not matched, such as StringNotLike
    # or ArnNotLike, and the right key is not present, the condition is true."
    statements = [deny("s3:*", condition={"StringNotLike": {"aws:PrincipalTag/team": "net*"}}), allow("s3:*")]
    assert evaluate(statements, Request("s3:GetObject", "*")) is Decision.EXPLICIT_DENY
    assert evaluate(statements, Request("s3:GetObject", "*", {"aws:PrincipalTag/team": "netops"})) is Decision.ALLOW
    not_equal = [allow("s3:*", condition={"StringNotEquals": {"aws:PrincipalTag/team": ["a", "b"]}})]
    assert evaluate(not_equal, Request("s3:GetObject", "*", {"aws:PrincipalTag/team": "b"})) is Decision.IMPLICIT_DENY
    assert evaluate(not_equal, Request("s3:GetObject", "*", {"aws:PrincipalTag/team": "c"})) is Decision.ALLOW


def test_if_exists_holds_when_the_key_is_absent() -> None:
    # OPERATORS, ...IfExists example: ec2:RunInstances with StringLikeIfExists ec2:InstanceType t1.*/t2.*/m3.*:
    # resources without an instance type (the key absent) are allowed, instances only of those types.
    statements = [
        allow("ec2:RunInstances", condition={"StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}})
    ]
    assert evaluate(statements, Request("ec2:RunInstances", "*", {"ec2:InstanceType": "t2.micro"})) is Decision.ALLOW
    assert evaluate(statements, Request("ec2:RunInstances", "*", {"ec2:InstanceType": "m5.large"})) is (
        Decision.IMPLICIT_DENY
    )
    assert evaluate(statements, Request("ec2:RunInstances", "arn:aws:ec2:::image/ami-1")) is Decision.ALLOW


def test_null_tests_whether_the_key_is_present() -> None:
    # OPERATORS, Null example: "aws:TokenIssueTime": "true" matches requests made without temporary credentials.
    statements = [allow("ec2:*", condition={"Null": {"aws:TokenIssueTime": "true"}})]
    assert evaluate(statements, Request("ec2:DescribeInstances", "*")) is Decision.ALLOW
    assert evaluate(
        statements, Request("ec2:DescribeInstances", "*", {"aws:TokenIssueTime": "2026-12-01T00:00:00Z"})
    ) is (Decision.IMPLICIT_DENY)


def test_bool_compares_the_boolean_value() -> None:
    # OPERATORS, Boolean example: Deny unless "aws:SecureTransport" is true (the topic policy enforce_ssl makes).
    statements = [deny("sns:Publish", condition={"Bool": {"aws:SecureTransport": "false"}}), allow("sns:Publish")]
    assert evaluate(statements, Request("sns:Publish", "*", {"aws:SecureTransport": True})) is Decision.ALLOW
    assert evaluate(statements, Request("sns:Publish", "*", {"aws:SecureTransport": False})) is Decision.EXPLICIT_DENY


def test_arn_equals_and_arn_like_match_each_arn_component() -> None:
    # OPERATORS, ARN example: an SQS queue policy allowing one SNS topic to send (aws:SourceArn, ArnEquals);
    # ArnLike/ArnEquals match each of the six colon-delimited components separately, wildcards allowed.
    statements = [
        allow(
            "sqs:SendMessage",
            "arn:aws:sqs:us-east-1:123456789012:QUEUE-ID",
            {"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:TOPIC-ID"}},
            Principal={"Service": "sns.amazonaws.com"},
        )
    ]
    queue = "arn:aws:sqs:us-east-1:123456789012:QUEUE-ID"
    sns = Principal("Service", "sns.amazonaws.com")
    context = {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:TOPIC-ID"}
    assert evaluate(statements, Request("sqs:SendMessage", queue, context, sns)) is Decision.ALLOW
    other = {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:OTHER"}
    assert evaluate(statements, Request("sqs:SendMessage", queue, other, sns)) is Decision.IMPLICIT_DENY
    like = [allow("sqs:SendMessage", condition={"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:*"}})]
    assert evaluate(like, Request("sqs:SendMessage", queue, context)) is Decision.ALLOW
    # A wildcard does not reach across a colon: the account component must still match.
    wrong = {"aws:SourceArn": "arn:aws:sns:us-east-1:999999999999:TOPIC-ID"}
    assert evaluate(like, Request("sqs:SendMessage", queue, wrong)) is Decision.IMPLICIT_DENY


def test_a_principal_element_limits_a_resource_policy_to_that_principal() -> None:
    # ALARM_TOPIC: the topic policy that lets CloudWatch alarms publish, restricted with ArnLike on aws:SourceArn.
    statements = [
        allow(
            "sns:Publish",
            "arn:aws:sns:us-east-1:111122223333:TOPIC_NAME",
            {"ArnLike": {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:ALARM_NAME"}},
            Principal={"Service": ["cloudwatch.amazonaws.com"]},
        )
    ]
    topic = "arn:aws:sns:us-east-1:111122223333:TOPIC_NAME"
    alarm = {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:ALARM_NAME"}
    cloudwatch = Principal("Service", "cloudwatch.amazonaws.com")
    assert evaluate(statements, Request("sns:Publish", topic, alarm, cloudwatch)) is Decision.ALLOW
    other_alarm = {"aws:SourceArn": "arn:aws:cloudwatch:us-east-1:111122223333:alarm:OTHER"}
    assert evaluate(statements, Request("sns:Publish", topic, other_alarm, cloudwatch)) is Decision.IMPLICIT_DENY
    events = Principal("Service", "events.amazonaws.com")
    assert evaluate(statements, Request("sns:Publish", topic, alarm, events)) is Decision.IMPLICIT_DENY


# --- Set operators (MULTIVALUED) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag_keys", "expected"),
    [
        (["key1:legal"], Decision.ALLOW),
        (["key2"], Decision.EXPLICIT_DENY),
        (["key1:legal", "key2"], Decision.ALLOW),
        (None, Decision.EXPLICIT_DENY),  # "ForAllValues ... also returns true if there are no context keys"
    ],
)
def test_for_all_values_needs_every_request_value_to_match(tag_keys: list[str] | None, expected: Decision) -> None:
    # MULTIVALUED, "Deny a single policy condition value for a multivalued context key": deny unless every
    # aws:TagKeys value starts with key1 (ForAllValues:StringNotLike).
    statements = [
        deny(["iam:Tag*", "iam:UnTag*"], condition={"ForAllValues:StringNotLike": {"aws:TagKeys": "key1*"}}),
        allow("iam:*"),
    ]
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert evaluate(statements, Request("iam:TagUser", "*", context)) is expected


@pytest.mark.parametrize(
    ("tag_keys", "expected"),
    [
        (["environment", "owner"], Decision.EXPLICIT_DENY),
        (["webserver"], Decision.EXPLICIT_DENY),
        (["owner"], Decision.ALLOW),
        (None, Decision.ALLOW),  # ForAnyValue with no value in the request: false
    ],
)
def test_for_any_value_needs_one_request_value_to_match(tag_keys: list[str] | None, expected: Decision) -> None:
    # MULTIVALUED, "Deny policy with condition set operator ForAnyValue": no snapshot tagged environment or webserver.
    statements = [
        deny(
            "ec2:CreateSnapshot",
            condition={"ForAnyValue:StringEquals": {"aws:TagKeys": ["environment", "webserver"]}},
        ),
        allow("ec2:CreateSnapshot"),
    ]
    context = {} if tag_keys is None else {"aws:TagKeys": tag_keys}
    assert evaluate(statements, Request("ec2:CreateSnapshot", "*", context)) is expected


# --- What it refuses to guess -------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        allow("ec2:*", condition={"NumericLessThan": {"ec2:VolumeSize": "10"}}),
        allow("ec2:*", condition={"DateLessThan": {"aws:CurrentTime": "2026-01-01T00:00:00Z"}}),
        allow("ec2:*", condition={"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}}),
        allow("ec2:*", condition={"NoSuchOperator": {"aws:SourceIp": "x"}}),
        # OPERATORS, StringLike example with policy variables (s3:prefix home/${aws:username}/).
        allow("s3:ListBucket", condition={"StringLike": {"s3:prefix": ["", "home/", "home/${aws:username}/"]}}),
        {"Effect": "Allow", "NotPrincipal": {"AWS": "*"}, "Action": "ec2:*", "Resource": "*"},
    ],
)
def test_what_it_does_not_evaluate_raises_instead_of_allowing(statement: dict[str, Any]) -> None:
    context = {"ec2:VolumeSize": "5", "aws:SourceIp": "203.0.113.1", "s3:prefix": "x"}
    with pytest.raises(UnsupportedPolicy):
        evaluate([statement], Request("s3:ListBucket" if "s3" in str(statement) else "ec2:RunInstances", "*", context))


def test_several_request_values_without_a_set_operator_raise() -> None:
    # MULTIVALUED: "Multivalued context keys require a condition set operator".
    statements = [allow("ec2:*", condition={"StringEquals": {"aws:TagKeys": "a"}})]
    with pytest.raises(UnsupportedPolicy):
        evaluate(statements, Request("ec2:CreateTags", "*", {"aws:TagKeys": ["a", "b"]}))
