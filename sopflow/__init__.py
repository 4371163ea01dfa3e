"""sopflow: escalation-response SOPs compiled to plans and run as durable Temporal workflows."""

__version__ = "0.1.0"
