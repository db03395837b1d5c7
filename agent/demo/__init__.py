"""Simulated bill-pay, account and client integrations on loopback, and the faults they suffer."""

from __future__ import annotations

from agent.demo.services import DemoServices, Fault, Service, start_services
from agent.demo.timeline import SCHEDULE, Step, format_schedule, run_timeline

__all__ = [
    "SCHEDULE",
    "DemoServices",
    "Fault",
    "Service",
    "Step",
    "format_schedule",
    "run_timeline",
    "start_services",
]
