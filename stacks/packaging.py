"""Lambda packaging without Docker: the project code as an allow-listed asset, Powertools from its public layer,
the remaining pure-Python runtime dependencies as a layer built by ``pip --platform`` on this machine."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, Aws, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
RUNTIME_REQUIREMENTS = FUNCTIONS_DIR / "requirements.txt"
RUNTIME = lambda_.Runtime.PYTHON_3_13
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = "manylinux2014_aarch64"
PYTHON_VERSION = "3.13"

# Powertools' public layer (account 017000801446) already ships Powertools with its parser (pydantic v2) and
# tracer (aws-xray-sdk) extras; the Lambda runtime ships boto3/botocore. These are not bundled again.
POWERTOOLS_LAYER_ACCOUNT = "017000801446"
POWERTOOLS_SSM_PREFIX = "/aws/service/powertools/python/arm64/python3.13"
PROVIDED_BY_RUNTIME_OR_LAYER = frozenset({"aws-lambda-powertools", "pydantic", "boto3", "botocore"})
# The function code asset is an allow-list: the Python sources of these packages, nothing else (no build
# leftovers, no data files; local tooling lives outside functions/, in tools/).
CODE_PACKAGES = ("handlers", "vpn_doctor")


def powertools_layer_arn(scope: Construct, version: int | None = None) -> str:
    """ARN of the official Powertools for AWS Lambda (Python) v3 layer for python3.13/arm64 in the stack's region.

    With no explicit layer ``version``, the ARN of the layer that carries exactly the Powertools release pinned in
    functions/requirements.txt (the one the tests ran against) is read at deploy time from the public SSM parameter
    Powertools publishes per release: ``/aws/service/powertools/python/arm64/python3.13/<semver>``.
    """
    if version is None:
        parameter = f"{POWERTOOLS_SSM_PREFIX}/{pinned_version('aws-lambda-powertools')}"
        return ssm.StringParameter.value_for_string_parameter(scope, parameter)
    return (
        f"arn:{Aws.PARTITION}:lambda:{Aws.REGION}:{POWERTOOLS_LAYER_ACCOUNT}:layer:"
        f"AWSLambdaPowertoolsPythonV3-python313-arm64:{version}"
    )


def pinned_version(package: str, requirements: Path = RUNTIME_REQUIREMENTS) -> str:
    """The ``==`` version a runtime requirement is pinned to (the pins are the one source of truth)."""
    for line in requirements.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        name, _, version = spec.partition("==")
        if name.split("[", 1)[0].strip().lower() == package and version:
            return version.strip()
    raise ValueError(f"{package} is not pinned with == in {requirements}")


def bundled_requirements(requirements: Path = RUNTIME_REQUIREMENTS, *, with_powertools: bool = False) -> list[str]:
    """Pinned runtime requirements that neither the Lambda runtime nor the Powertools layer provides; with
    ``with_powertools`` (no public Powertools layer) every pin: the tracer extra's aws-xray-sdk pulls in botocore,
    which would shadow the runtime's and no longer match its boto3, so boto3 and botocore come at their pins too."""
    provided = frozenset() if with_powertools else PROVIDED_BY_RUNTIME_OR_LAYER
    wanted: list[str] = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        name = spec.split("==", 1)[0].split("[", 1)[0].strip().lower().replace("_", "-")
        if name not in provided:
            wanted.append(spec)
    return wanted


def pip_install_command(requirements: list[str], target: str) -> list[str]:
    """The pip command that fetches wheels for Lambda's arm64 python3.13, whatever machine runs the synth."""
    return [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--platform", PIP_PLATFORM, "--implementation", "cp", "--python-version", PYTHON_VERSION,
        "--only-binary=:all:", "--target", target, *requirements,
    ]  # fmt: skip


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Local bundling: ``pip install --platform`` into the layer's ``python/`` folder, no Docker needed."""

    def __init__(self, requirements: list[str]) -> None:
        self._requirements = requirements

    # jsii passes the bundling options positionally, the generated protocol declares them as keywords: accept both.
    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        """Install the requirements into ``output_dir/python``; True tells CDK not to fall back to Docker."""
        subprocess.run(pip_install_command(self._requirements, str(Path(output_dir) / "python")), check=True)  # noqa: S603
        return True


def dependencies_layer(scope: Construct, construct_id: str, *, with_powertools: bool = False) -> lambda_.LayerVersion:
    """A layer with the runtime dependencies the Powertools layer lacks (slack-sdk), built from PyPI wheels for
    Lambda's platform; ``with_powertools`` also installs the pinned Powertools release with its parser and tracer
    extras, for regions where the public Powertools layer is not published.

    The asset hash is the pinned requirement list plus the target platform, so an unchanged pin reuses the
    bundle already in ``cdk.out`` instead of running pip again.
    """
    requirements = bundled_requirements(with_powertools=with_powertools)
    digest = hashlib.sha256("\n".join([PIP_PLATFORM, PYTHON_VERSION, *requirements]).encode()).hexdigest()
    what = (
        "vpn-doctor runtime dependencies"
        if with_powertools
        else "vpn-doctor runtime dependencies not in the Powertools layer"
    )
    return lambda_.LayerVersion(
        scope,
        construct_id,
        description=f"{what}: " + ", ".join(requirements),
        compatible_runtimes=[RUNTIME],
        compatible_architectures=[ARCHITECTURE],
        code=lambda_.Code.from_asset(
            str(FUNCTIONS_DIR),
            asset_hash=digest,
            asset_hash_type=AssetHashType.CUSTOM,
            bundling=BundlingOptions(
                # Only used if local bundling declined, which it never does; CDK requires an image anyway.
                image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
                local=PipLayerBundling(requirements),
            ),
        ),
    )


def function_code_files(root: Path = FUNCTIONS_DIR) -> list[Path]:
    """The function asset's content, relative to ``root``: every Python source of the ``CODE_PACKAGES``."""
    return sorted(
        path.relative_to(root)
        for package in CODE_PACKAGES
        for path in (root / package).rglob("*.py")
        if "__pycache__" not in path.parts
    )


@jsii.implements(ILocalBundling)
class CopyFiles:
    """Local bundling: copy exactly the listed files (paths relative to ``root``) into the asset."""

    def __init__(self, root: Path, files: list[Path]) -> None:
        self._root = root
        self._files = files

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        """Copy the files, keeping their relative paths; True tells CDK not to fall back to Docker."""
        for relative in self._files:
            target = Path(output_dir) / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._root / relative, target)
        return True


def function_code() -> lambda_.Code:
    """The project code (``vpn_doctor`` core and ``handlers``) as one asset shared by every function.

    The asset hash is the listed files' paths and contents, so it changes exactly when the shipped code does.
    """
    files = function_code_files()
    digest = hashlib.sha256()
    for relative in files:
        digest.update(relative.as_posix().encode() + b"\0" + (FUNCTIONS_DIR / relative).read_bytes() + b"\0")
    return lambda_.Code.from_asset(
        str(FUNCTIONS_DIR),
        asset_hash=digest.hexdigest(),
        asset_hash_type=AssetHashType.CUSTOM,
        bundling=BundlingOptions(
            # Only used if local bundling declined, which it never does; CDK requires an image anyway.
            image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.13"),
            local=CopyFiles(FUNCTIONS_DIR, files),
        ),
    )
