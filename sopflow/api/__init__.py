"""sopflow's HTTP API, and the per-person API tokens it shares with the CLI."""
