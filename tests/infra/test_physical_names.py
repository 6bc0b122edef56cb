"""Physical names: a second region of the same account deploys beside the first, and a destroyed stack deploys again.

Every resource type's name properties are taken from CloudFormation's own resource schema (the one cfn-lint ships:
``primaryIdentifier``), so a new resource type is covered without a list here. A name is scoped by where it must be
unique: the account for account-wide types (dashboards, IAM), otherwise the region; stacks are named per region.
Resources whose name CloudFormation generates (no name property set) cannot collide.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from cfnlint.schema.manager import PROVIDER_SCHEMA_MANAGER

from stacks.state import NETWORK_MANAGER_HOME_REGION
from tests.infra.conftest import ACCOUNT, FULL_CONFIG, Synth, synthesize

pytestmark = pytest.mark.slow  # two more synths

REGIONS = ("eu-west-1", "us-east-1")
# Names unique per account, not per region (CloudWatch dashboards are global; IAM is a global service).
ACCOUNT_WIDE = ("AWS::CloudWatch::Dashboard", "AWS::IAM::")
# CloudFormation's automatic import of existing resources on deploy (`cdk deploy --import-existing-resources`) takes a
# resource that has a static custom name and a DeletionPolicy of Retain or RetainExceptOnCreate
# (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/import-resources-automatically.html).
IMPORTABLE_POLICIES = ("Retain", "RetainExceptOnCreate")


def resolve(value: Any, region: str, stack: str) -> Any:
    """A name value with the pseudo parameters filled in; a reference to another resource stays symbolic."""
    if isinstance(value, dict) and set(value) == {"Ref"}:
        pseudo = {"AWS::Region": region, "AWS::AccountId": ACCOUNT, "AWS::StackName": stack, "AWS::Partition": "aws"}
        return pseudo.get(value["Ref"], f"<{value['Ref']}>")
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part, region, stack)) for part in parts)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value


def stack_region(synth: Synth, stack: str, main_region: str) -> str:
    return NETWORK_MANAGER_HOME_REGION if stack.startswith("VpnDoctorNetworkManager") else main_region


def name_properties(resource_type: str) -> list[str]:
    """The properties that make up a resource's physical id, per its CloudFormation schema; none when a part of it is
    read-only (CloudFormation or the service generates it, e.g. a Lambda permission's statement id)."""
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGIONS[0], resource_type).schema
    identifier = schema.get("primaryIdentifier", [])
    if set(identifier) & set(schema.get("readOnlyProperties", [])):
        return []
    return [path.rsplit("/", 1)[-1] for path in identifier]


def physical_names(synth: Synth, main_region: str) -> Iterator[tuple[str, str, tuple[Any, ...]]]:
    """(scope, type, name) of every stack and every resource whose template sets its physical name."""
    for stack, template in synth.templates.items():
        region = stack_region(synth, stack, main_region)
        yield (region, "stack", (stack,))
        for resource in template["Resources"].values():
            properties = resource.get("Properties", {})
            names = name_properties(resource["Type"])
            if not names or not all(name in properties for name in names):
                continue  # CloudFormation generates the name, or it is the id of another resource's attachment
            scope = ACCOUNT if resource["Type"].startswith(ACCOUNT_WIDE) else region
            yield (scope, resource["Type"], tuple(resolve(properties[name], region, stack) for name in names))


@pytest.fixture(scope="module")
def two_regions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Synth]:
    """Everything on, in two regions of one account (each with its Network Manager forwarder in us-west-2)."""
    return {
        region: synthesize(tmp_path_factory.mktemp(region), FULL_CONFIG, region=region, name=region)
        for region in REGIONS
    }


def test_two_regions_of_one_account_share_no_physical_name(two_regions: dict[str, Synth]) -> None:
    names = Counter(name for region, synth in two_regions.items() for name in physical_names(synth, region))
    assert len(names) > 10  # stacks, the bus, alarms, subscription filters, dashboards
    assert [name for name, count in names.items() if count > 1] == []


def test_the_dashboard_name_is_per_region(two_regions: dict[str, Synth]) -> None:
    dashboards = {
        name for region, synth in two_regions.items() for scope, kind, name in physical_names(synth, region)
        if kind == "AWS::CloudWatch::Dashboard"
    }  # fmt: skip
    assert dashboards == {("vpn-doctor-eu-west-1",), ("vpn-doctor-us-east-1",)}


def test_each_region_has_its_own_network_manager_forwarder_stack(two_regions: dict[str, Synth]) -> None:
    for region, synth in two_regions.items():
        assert f"VpnDoctorNetworkManager-{region}" in synth.templates


def test_what_a_destroy_leaves_behind_is_generated_or_imported_on_the_next_deploy(
    all_synths: tuple[Synth, ...],
) -> None:
    """A retained resource either has a generated name (the next deploy creates a new one beside it: tables, key)
    or meets every condition of CloudFormation's automatic import (the created tunnel log group), so
    ``cdk deploy --import-existing-resources`` adopts it instead of failing on "already exists"."""
    imported = []
    for synth in all_synths:
        for key, resource in synth.templates["VpnDoctor"]["Resources"].items():
            if resource.get("DeletionPolicy") not in IMPORTABLE_POLICIES:
                continue
            names = name_properties(resource["Type"])
            set_names = [
                resource.get("Properties", {}).get(name) for name in names if name in resource.get("Properties", {})
            ]
            if not set_names:
                continue  # a generated name: the next deploy's resource cannot collide with the retained one
            assert len(set_names) == len(names), key
            assert all(isinstance(value, str) for value in set_names), key
            schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(REGIONS[0], resource["Type"]).schema
            assert {"create", "read", "delete"} <= set(schema.get("handlers", {})), resource["Type"]
            imported.append((resource["Type"], tuple(set_names)))
    assert set(imported) == {("AWS::Logs::LogGroup", ("/aws/vendedlogs/vpn-doctor/tunnels",))}
