"""CloudWatch adapter: ``AWS/VPN`` TunnelDataIn / TunnelDataOut / TunnelState for one tunnel."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from vpn_doctor.aws import translate
from vpn_doctor.diagnosis import TunnelTraffic

NAMESPACE: Final = "AWS/VPN"
_MAX_PAGES: Final = 10


class TunnelMetrics:
    """``GetMetricData`` for one tunnel (dimensions ``VpnId`` + ``TunnelIpAddress``)."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        """The CloudWatch client, created on first use from the environment."""
        if self._client is None:
            self._client = boto3.client("cloudwatch")
        return self._client

    def traffic(
        self, vpn_connection_id: str, tunnel_ip: str, *, start: datetime, end: datetime, period: int = 300
    ) -> TunnelTraffic:
        """Bytes in and out per period between ``start`` and ``end`` (oldest first)."""
        series = self._series(
            vpn_connection_id,
            tunnel_ip,
            {"bytes_in": ("TunnelDataIn", "Sum"), "bytes_out": ("TunnelDataOut", "Sum")},
            start=start,
            end=end,
            period=period,
        )
        return TunnelTraffic(
            bytes_in=tuple(series["bytes_in"]),
            bytes_out=tuple(series["bytes_out"]),
            period_seconds=period,
            start=start,
            end=end,
        )

    def tunnel_state(
        self, vpn_connection_id: str, tunnel_ip: str, *, start: datetime, end: datetime, period: int = 60
    ) -> list[float]:
        """``TunnelState`` minimum per period (0 down, 1 up), oldest first."""
        series = self._series(
            vpn_connection_id, tunnel_ip, {"state": ("TunnelState", "Minimum")}, start=start, end=end, period=period
        )
        return series["state"]

    def _series(
        self,
        vpn_connection_id: str,
        tunnel_ip: str,
        metrics: dict[str, tuple[str, str]],
        *,
        start: datetime,
        end: datetime,
        period: int,
    ) -> dict[str, list[float]]:
        dimensions = [
            {"Name": "VpnId", "Value": vpn_connection_id},
            {"Name": "TunnelIpAddress", "Value": tunnel_ip},
        ]
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dimensions},
                    "Period": period,
                    "Stat": stat,
                },
                "ReturnData": True,
            }
            for query_id, (name, stat) in metrics.items()
        ]
        points: dict[str, list[tuple[datetime, float]]] = {query_id: [] for query_id in metrics}
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
        }
        try:
            for _ in range(_MAX_PAGES):
                response = self.client.get_metric_data(**request)
                for result in response.get("MetricDataResults") or ():
                    bucket = points.get(result.get("Id", ""))
                    if bucket is not None:
                        bucket.extend(zip(result.get("Timestamps") or (), result.get("Values") or (), strict=False))
                token = response.get("NextToken")
                if not token:
                    break
                request["NextToken"] = token
        except (ClientError, BotoCoreError) as exc:
            raise translate("GetMetricData", exc) from None
        return {query_id: [value for _, value in sorted(values)] for query_id, values in points.items()}
