"""A small IAM policy evaluator: does a set of policies allow one request?

No maintained library evaluates conditions offline, so this follows AWS's documented logic
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html): a matching explicit
Deny wins, otherwise a matching Allow is needed, otherwise the request is implicitly denied. Within one account the
identity policies of the caller and the resource policy of the target are a union: pass both.

Supported:

- ``Action`` / ``NotAction`` (case-insensitive, ``*`` and ``?`` wildcards), ``Resource`` / ``NotResource`` (ARNs
  matched per colon-delimited component, case-sensitive, wildcards within a component; ``"*"`` alone matches
  everything);
- ``Principal`` in resource policies: ``"*"``, ``{"AWS": "*"}``, ``{"AWS": <account id, account root or ARN>}``,
  ``{"Service": <service principal>}``;
- condition operators ``StringEquals``, ``StringNotEquals``, ``StringEqualsIgnoreCase``,
  ``StringNotEqualsIgnoreCase``, ``StringLike``, ``StringNotLike``, ``ArnEquals``, ``ArnLike``, ``ArnNotEquals``,
  ``ArnNotLike``, ``Bool``, ``Null``; the ``...IfExists`` suffix; the ``ForAnyValue:`` / ``ForAllValues:`` set
  operators on the string and ARN operators
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).

Not supported, and refused with :class:`UnsupportedPolicy` rather than guessed (never a silent allow):
``Numeric*``, ``Date*``, ``IpAddress`` / ``NotIpAddress``, ``BinaryEquals`` and any other operator; ``NotPrincipal``;
policy variables (``${...}``); a list of request values for a key without a set operator. Out of scope altogether
(this evaluates one account's identity and resource policies only): SCPs and RCPs, permission boundaries, session
policies, cross-account access (which needs both sides), the KMS grant and ACL mechanisms.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ContextValue = str | bool | Sequence[str]


class UnsupportedPolicy(ValueError):
    """The policy uses something this evaluator does not evaluate (see the module docstring)."""


class Decision(enum.Enum):
    """The outcome of an evaluation."""

    ALLOW = "allow"
    EXPLICIT_DENY = "explicit deny"
    IMPLICIT_DENY = "implicit deny"


@dataclass(frozen=True)
class Principal:
    """Who makes the request, as a resource policy's ``Principal`` names it."""

    kind: str  # "AWS" or "Service"
    identifier: str  # a role/user ARN (kind AWS) or a service principal such as cloudwatch.amazonaws.com

    @property
    def account(self) -> str | None:
        """The principal's account (None for a service)."""
        if self.kind != "AWS":
            return None
        parts = self.identifier.split(":")
        return parts[4] if len(parts) > 4 else None


@dataclass(frozen=True)
class Request:
    """One authorisation request: action, resource ARN (or ``*``), principal and request context."""

    action: str
    resource: str
    context: Mapping[str, ContextValue] = field(default_factory=dict)
    principal: Principal | None = None


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@lru_cache(maxsize=4096)
def _pattern(value: str, ignore_case: bool) -> re.Pattern[str]:
    """A wildcard pattern (``*`` any run, ``?`` one character) as an anchored regular expression."""
    if "${" in value:
        raise UnsupportedPolicy(f"policy variables are not evaluated: {value!r}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    return re.compile(f"^{body}$", re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def wildcard_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM's ``*``/``?`` matching of one value."""
    return _pattern(pattern, ignore_case).match(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """ArnLike: each of the six colon-delimited components is matched separately (wildcards inside one)."""
    if pattern == "*":
        return True
    pattern_parts, arn_parts = pattern.split(":", 5), arn.split(":", 5)
    if len(pattern_parts) != 6 or len(arn_parts) != 6:
        return wildcard_match(pattern, arn)  # not an ARN (e.g. "*" requested): a plain comparison
    return all(wildcard_match(p, a) for p, a in zip(pattern_parts, arn_parts, strict=True))


# --- conditions ---------------------------------------------------------------------------------


def _string_equals(policy: str, value: str) -> bool:
    if "${" in policy:
        raise UnsupportedPolicy(f"policy variables are not evaluated: {policy!r}")
    return policy == value


def _string_equals_ignore_case(policy: str, value: str) -> bool:
    if "${" in policy:
        raise UnsupportedPolicy(f"policy variables are not evaluated: {policy!r}")
    return policy.casefold() == value.casefold()


# Positive matchers of one request value against one policy value; the "Not" operators negate "any matches".
_MATCHERS = {
    "StringEquals": _string_equals,
    "StringEqualsIgnoreCase": _string_equals_ignore_case,
    "StringLike": wildcard_match,
    "ArnEquals": arn_match,  # ArnEquals takes wildcards too, per the operators page
    "ArnLike": arn_match,
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _lookup(context: Mapping[str, ContextValue], key: str) -> ContextValue | None:
    """Condition keys are case-insensitive."""
    folded = key.casefold()
    for name, value in context.items():
        if name.casefold() == folded:
            return value
    return None


def _bool_text(value: ContextValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value.lower()
    raise UnsupportedPolicy(f"Bool on a list of values: {value!r}")


def _one_condition(operator: str, key: str, policy_values: list[Any], context: Mapping[str, ContextValue]) -> bool:
    value = _lookup(context, key)
    present = value is not None and not (isinstance(value, list | tuple) and not value)
    if operator == "Null":
        wanted = {str(v).lower() for v in policy_values}
        if wanted - {"true", "false"} or len(wanted) != 1:
            raise UnsupportedPolicy(f"Null takes 'true' or 'false': {policy_values!r}")
        return (not present) is (wanted == {"true"})
    set_operator = None
    if ":" in operator:
        set_operator, operator = operator.split(":", 1)
        if set_operator not in ("ForAnyValue", "ForAllValues"):
            raise UnsupportedPolicy(f"unknown set operator {set_operator!r}")
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator.removesuffix("IfExists")
    if operator == "Bool":
        if set_operator is not None:
            raise UnsupportedPolicy("set operators are evaluated on string and ARN operators only")
        if not present:
            return if_exists
        return _bool_text(value) in {str(v).lower() for v in policy_values}  # type: ignore[arg-type]
    negated = operator in _NEGATED
    matcher = _MATCHERS.get(_NEGATED.get(operator, operator))
    if matcher is None:
        raise UnsupportedPolicy(f"condition operator {operator!r} is not evaluated")
    texts = [str(v) for v in policy_values]

    def test(one: str) -> bool:
        matched = any(matcher(policy, one) for policy in texts)
        return not matched if negated else matched

    if set_operator is None:
        if not present:
            # "If the key ... is not present in the request context, the values do not match and the condition is
            # false. If the policy condition requires that the key is not matched ... the condition is true."
            return if_exists or negated
        if isinstance(value, list | tuple):
            raise UnsupportedPolicy(f"{key} has several values in the request: use ForAnyValue/ForAllValues")
        return test(str(value))
    values = [] if not present else [str(v) for v in _as_list(value)]
    if set_operator == "ForAllValues":
        return all(test(one) for one in values)  # true for an absent key or an empty set
    return any(test(one) for one in values)  # ForAnyValue: false for an absent key


def conditions_hold(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, ContextValue]) -> bool:
    """Every operator block, and every key within one, must hold (AND); a key's values are alternatives."""
    for operator, keys in (condition or {}).items():
        for key, values in keys.items():
            if not _one_condition(operator, key, _as_list(values), context):
                return False
    return True


# --- statements --------------------------------------------------------------------------------


def _principal_matches(element: Any, principal: Principal | None) -> bool:
    if principal is None:
        raise UnsupportedPolicy("a resource policy statement needs the request's principal")
    if element == "*":
        return True
    if not isinstance(element, Mapping):
        raise UnsupportedPolicy(f"unrecognised Principal {element!r}")
    for kind, identifiers in element.items():
        if kind not in ("AWS", "Service"):
            raise UnsupportedPolicy(f"principal type {kind!r} is not evaluated")
        if kind != principal.kind:
            continue
        for identifier in _as_list(identifiers):
            if identifier in ("*", principal.identifier):
                return True
            # An account (id or root ARN) as principal delegates to that account's own identity policies.
            if (
                kind == "AWS"
                and principal.account is not None
                and identifier
                in (
                    principal.account,
                    f"arn:aws:iam::{principal.account}:root",
                )
            ):
                return True
    return False


def statement_applies(statement: Mapping[str, Any], request: Request) -> bool:
    """Whether one statement's principal, action, resource and condition all match the request."""
    if "NotPrincipal" in statement:
        raise UnsupportedPolicy("NotPrincipal is not evaluated")
    if "Principal" in statement and not _principal_matches(statement["Principal"], request.principal):
        return False
    if "Action" in statement:
        if not any(wildcard_match(a, request.action, ignore_case=True) for a in _as_list(statement["Action"])):
            return False
    elif "NotAction" in statement:
        if any(wildcard_match(a, request.action, ignore_case=True) for a in _as_list(statement["NotAction"])):
            return False
    else:
        raise UnsupportedPolicy(f"statement without Action or NotAction: {statement!r}")
    if "Resource" in statement:
        if not any(arn_match(r, request.resource) for r in _as_list(statement["Resource"])):
            return False
    elif "NotResource" in statement:
        if any(arn_match(r, request.resource) for r in _as_list(statement["NotResource"])):
            return False
    else:
        raise UnsupportedPolicy(f"statement without Resource or NotResource: {statement!r}")
    return conditions_hold(statement.get("Condition"), request.context)


def evaluate(statements: Iterable[Mapping[str, Any]], request: Request) -> Decision:
    """Explicit deny wins; otherwise an allow is needed; otherwise the request is implicitly denied."""
    allowed = False
    for statement in statements:
        effect = statement.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise UnsupportedPolicy(f"Effect must be Allow or Deny: {effect!r}")
        if statement_applies(statement, request):
            if effect == "Deny":
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def policy_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A policy document's statements (``Statement`` may be one object or a list)."""
    return _as_list(document["Statement"])
