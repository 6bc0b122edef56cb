"""``make demo``: the whole pipeline live on one machine (see :mod:`vpn_doctor_tools.demo.runner`)."""

from __future__ import annotations

from vpn_doctor_tools.demo.runner import REMEDIATION_MODES, run_demo

__all__ = ["REMEDIATION_MODES", "run_demo"]
