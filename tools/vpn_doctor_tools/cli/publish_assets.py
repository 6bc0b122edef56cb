"""``vpn-doctor publish-assets``: put the StackSet spoke's template, code and layers in each region's assets bucket.

After ``cdk synth`` with ``deployment: estate`` (docs/estate.md), ``cdk.out/assembly-Spokes/`` holds the spoke
template and CDK's asset manifest for it: every file asset (the function code and layer directories, the template
itself) with its key and its bucket, ``<prefix>-${AWS::Region}``. This uploads each asset to the bucket of every
region (``--region``, default: the regions of the ``VpnDoctorAssets-<region>`` stacks in the same synth), under the
manifest's key, which is the asset's content hash: an object already there is the same content and is skipped. A
directory is uploaded as a zip of its files (what ``cdk-assets`` does for ``packaging: zip``), a file as it is.

It needs ``s3:PutObject`` and ``s3:GetObject`` (``HeadObject``) on the buckets, with the hub account's credentials.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import AwsCallFailed, translate

STAGE_DIRECTORY = "assembly-Spokes"
ASSETS_STACK_PREFIX = "VpnDoctorAssets-"
EXIT_USAGE = 2
_REGION = "${AWS::Region}"
# A fixed date for every zip entry: the same files give the same archive.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


class PublishError(ValueError):
    """The synth output is not what publishing needs; the message says what to do."""


@dataclass(frozen=True)
class Asset:
    """One file asset of the spoke: where it is in the synth output, and its bucket (per region) and key."""

    source: Path
    zipped: bool
    bucket: str  # with ${AWS::Region}
    key: str


def spoke_assets(cdk_out: Path) -> list[Asset]:
    """The spoke's file assets, from the asset manifest of the spoke stage in ``cdk_out``."""
    stage = cdk_out / STAGE_DIRECTORY
    manifests = sorted(stage.glob("*.assets.json"))
    if len(manifests) != 1:
        raise PublishError(
            f"no spoke in {cdk_out} (expected one {STAGE_DIRECTORY}/*.assets.json): run `cdk synth` with "
            '"deployment": "estate" first'
        )
    manifest = json.loads(manifests[0].read_text(encoding="utf-8"))
    if manifest.get("dockerImages"):
        raise PublishError("the spoke has container image assets, which publish-assets does not upload")
    assets = []
    for entry in manifest.get("files", {}).values():
        source = Path(entry["source"]["path"])
        source = source if source.is_absolute() else stage / source
        for destination in entry["destinations"].values():
            if not destination["bucketName"].endswith(_REGION):
                raise PublishError(
                    f"asset bucket {destination['bucketName']!r} is not per region: not a StackSet spoke"
                )
            assets.append(
                Asset(
                    source,
                    entry["source"].get("packaging") == "zip",
                    destination["bucketName"],
                    destination["objectKey"],
                )
            )
    return assets


def asset_regions(cdk_out: Path) -> list[str]:
    """The regions of the assets bucket stacks in the same synth."""
    manifest = json.loads((cdk_out / "manifest.json").read_text(encoding="utf-8"))
    return sorted(
        name.removeprefix(ASSETS_STACK_PREFIX)
        for name, artifact in manifest.get("artifacts", {}).items()
        if name.startswith(ASSETS_STACK_PREFIX) and artifact.get("type") == "aws:cloudformation:stack"
    )


def zipped(directory: Path) -> bytes:
    """The directory's files as a zip (paths relative to it, sorted, fixed dates, executable bits kept)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=_ZIP_DATE)
            info.external_attr = (os.stat(path).st_mode & 0o777 | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise translate("HeadObject", exc) from exc
    except BotoCoreError as exc:
        raise translate("HeadObject", exc) from exc
    return True


def publish(assets: Sequence[Asset], regions: Sequence[str], clients: Any) -> list[dict[str, str]]:
    """Upload every asset to every region's bucket (``clients(region)`` is that region's S3 client); one line per
    upload: region, bucket, key, ``uploaded`` or ``present``."""
    done = []
    bodies: dict[Asset, bytes] = {}  # each asset read (and zipped) once, whatever the number of regions
    for region in regions:
        s3 = clients(region)
        for asset in assets:
            bucket = asset.bucket.replace(_REGION, region)
            if _exists(s3, bucket, asset.key):
                done.append({"region": region, "bucket": bucket, "key": asset.key, "status": "present"})
                continue
            if not asset.source.exists():
                raise PublishError(f"{asset.source} is missing: run `cdk synth` again")
            if asset not in bodies:
                bodies[asset] = zipped(asset.source) if asset.zipped else asset.source.read_bytes()
            try:
                s3.put_object(Bucket=bucket, Key=asset.key, Body=bodies[asset])
            except (ClientError, BotoCoreError) as exc:
                raise translate("PutObject", exc) from exc
            done.append({"region": region, "bucket": bucket, "key": asset.key, "status": "uploaded"})
    return done


def run_publish_assets(
    *,
    cdk_out: str,
    regions: Sequence[str],
    endpoint_url: str | None,
    json_output: bool,
    out: TextIO,
    err: TextIO,
    client_factory: Any | None = None,
) -> int:
    """Publish; the exit code (2 with a message when the synth output or AWS refuses)."""
    try:
        root = Path(cdk_out)
        assets = spoke_assets(root)
        wanted = list(regions) or asset_regions(root)
        if not wanted:
            raise PublishError("no region: pass --region, or synthesize the VpnDoctorAssets-<region> stacks")
        if client_factory is None:
            import boto3

            session = boto3.session.Session()

            def client_factory(region: str) -> Any:
                return session.client("s3", region_name=region, endpoint_url=endpoint_url)

        done = publish(assets, wanted, client_factory)
    except (PublishError, AwsCallFailed) as exc:
        print(f"vpn-doctor publish-assets: {exc}", file=err)
        return EXIT_USAGE
    if json_output:
        out.write(json.dumps(done, indent=2) + "\n")
    else:
        for line in done:
            out.write(f"{line['status']:8}  s3://{line['bucket']}/{line['key']}\n")
    return 0
