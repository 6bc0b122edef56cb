"""The poller's settings and ports for the warnings ahead of time (:mod:`vpn_doctor.app.ahead`): how often each
lifecycle-controlled tunnel's replacement status is read, how many days ahead of a tunnel certificate's expiry the
warnings start."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import BeforeValidator, Field, field_validator

from handlers.wiring import FunctionSettings
from vpn_doctor.app.ahead import Ahead, AheadPorts
from vpn_doctor.app.incidents import Incidents
from vpn_doctor.aws.ahead import CertificateExpiry, ReplacementStatusReader
from vpn_doctor.constants import ENV_APPLY_MAINTENANCE_WINDOW, ENV_CERTIFICATE_WARN_DAYS, ENV_REPLACEMENT_CHECK_MINUTES
from vpn_doctor.onboarding import MaintenanceWindow
from vpn_doctor.replacement import CERTIFICATE_WARN_DAYS, REPLACEMENT_EVERY


def _days(value: object) -> object:
    """``"30,7"`` -> ``(30, 7)``; ``"0"`` -> ``()`` (off)."""
    if isinstance(value, str):
        days = tuple(int(part) for part in value.split(",") if part.strip())
        return () if days == (0,) else days
    return value


def _window(value: object) -> object:
    return MaintenanceWindow.parse(value) if isinstance(value, str) else value


class AheadSettings(FunctionSettings):
    """``VPN_DOCTOR_REPLACEMENT_CHECK_MINUTES`` (default 360; 0: off) and ``VPN_DOCTOR_CERTIFICATE_WARN_DAYS``
    (default ``30,7``; ``0``: off)."""

    replacement_check_minutes: int = Field(
        int(REPLACEMENT_EVERY.total_seconds() // 60), alias=ENV_REPLACEMENT_CHECK_MINUTES, ge=0, le=7 * 1440
    )
    certificate_warn_days: Annotated[tuple[int, ...], BeforeValidator(_days)] = Field(
        CERTIFICATE_WARN_DAYS, alias=ENV_CERTIFICATE_WARN_DAYS
    )
    # Opt-in: where pending replacements are applied (one window grammar: vpn_doctor.onboarding.MaintenanceWindow).
    apply_window: Annotated[MaintenanceWindow | None, BeforeValidator(_window)] = Field(
        None, alias=ENV_APPLY_MAINTENANCE_WINDOW
    )

    @field_validator("certificate_warn_days")
    @classmethod
    def _positive(cls, days: tuple[int, ...]) -> tuple[int, ...]:
        if any(day < 1 or day > 365 for day in days):
            raise ValueError("each day count must be 1 to 365 (or 0 alone: off)")
        return days

    def ahead(self, poll_interval: timedelta) -> Ahead:
        """The checks' cadence and thresholds."""
        minutes = self.replacement_check_minutes
        return Ahead(
            replacement_every=timedelta(minutes=minutes) if minutes else None,
            certificate_warn_days=self.certificate_warn_days,
            poll_interval=poll_interval,
            apply_window=self.apply_window,
        )


def ahead_ports(incidents: Incidents, settings: AheadSettings) -> AheadPorts:
    """EC2's replacement status and ACM (clients created on first use); no ACM when certificate checks are off."""
    return AheadPorts(
        incidents=incidents,
        statuses=ReplacementStatusReader(),
        certificates=CertificateExpiry() if settings.certificate_warn_days else None,
    )
