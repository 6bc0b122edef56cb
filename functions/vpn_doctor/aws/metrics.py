"""CloudWatch adapter: ``AWS/VPN`` TunnelDataIn / TunnelDataOut of many tunnels in one batched read.

``GetMetricData`` takes up to 500 metric queries per call and pages its answer with ``NextToken``
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html): two
queries per tunnel (bytes in, bytes out), so one call reads 250 tunnels. A tunnel without a
datapoint gets empty series (CloudWatch has nothing), which is not the same as zeros (no byte
crossed it): :class:`~vpn_doctor.diagnosis.TunnelTraffic` keeps the difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.diagnosis import TunnelTraffic

NAMESPACE: Final = "AWS/VPN"
MAX_QUERIES: Final = 500  # GetMetricData's limit of MetricDataQueries per request
_SERIES: Final = (("i", "TunnelDataIn"), ("o", "TunnelDataOut"))
_PER_CALL: Final = MAX_QUERIES // len(_SERIES)

#: A tunnel: (VPN connection id, tunnel outside IP), the metrics' ``VpnId`` and ``TunnelIpAddress``.
Tunnel = tuple[str, str]


class TunnelMetrics:
    """Bytes in and out of tunnels (``Sum`` per period), read with as few ``GetMetricData`` calls as possible."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The CloudWatch client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("cloudwatch")
        return self._client

    def traffic(
        self, tunnels: Sequence[Tunnel], *, start: datetime, end: datetime, period: int = 300
    ) -> dict[Tunnel, TunnelTraffic]:
        """Every tunnel's bytes in and out per period between ``start`` and ``end``, oldest first.

        Raises :class:`vpn_doctor.aws.AwsCallFailed` when CloudWatch refuses."""
        wanted = list(dict.fromkeys(tunnels))
        series: dict[str, list[tuple[datetime, float]]] = {}
        for first in range(0, len(wanted), _PER_CALL):
            chunk = wanted[first : first + _PER_CALL]
            series.update(self._read(chunk, offset=first, start=start, end=end, period=period))

        def values(query_id: str) -> tuple[float, ...]:
            return tuple(value for _, value in sorted(series.get(query_id, ())))

        return {
            tunnel: TunnelTraffic(
                bytes_in=values(f"i{index}"),
                bytes_out=values(f"o{index}"),
                period_seconds=period,
                start=start,
                end=end,
            )
            for index, tunnel in enumerate(wanted)
        }

    def _read(
        self, tunnels: Sequence[Tunnel], *, offset: int, start: datetime, end: datetime, period: int
    ) -> dict[str, list[tuple[datetime, float]]]:
        ids = [
            (f"{prefix}{offset + index}", name, tunnel)
            for index, tunnel in enumerate(tunnels)
            for prefix, name in _SERIES
        ]
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": name,
                        "Dimensions": [
                            {"Name": "VpnId", "Value": vpn_connection_id},
                            {"Name": "TunnelIpAddress", "Value": tunnel_ip},
                        ],
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
                "ReturnData": True,
            }
            for query_id, name, (vpn_connection_id, tunnel_ip) in ids
        ]
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        points: dict[str, list[tuple[datetime, float]]] = {query_id: [] for query_id, _, _ in ids}
        try:
            while True:
                response = self.client.get_metric_data(**request)
                for result in response.get("MetricDataResults") or ():
                    bucket = points.get(result.get("Id", ""))
                    if bucket is not None:
                        bucket.extend(zip(result.get("Timestamps") or (), result.get("Values") or (), strict=False))
                token = response.get("NextToken")
                if not token:
                    return points
                request["NextToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetMetricData", exc) from None
