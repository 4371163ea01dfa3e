"""``sopflow channels``: the library's named destinations and, with ``$SOPFLOW_CONFIG``, the
worker's channels and whether each destination's channel is configured there.

It reads the Destinations document only (not a whole lint) and the worker's TOML without its
secrets: a token or password named there is not read. Exit 0 with the listing; 1 with one
line on stderr for a library whose Destinations document does not load, a configuration that
cannot be read, or a destination whose channel the configuration lacks (or cannot deliver its
address), so a deploy can check the pair before the worker starts.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import typer
from rich.table import Table

from sopflow.cli.authoring import DefinitionsOpt, fail
from sopflow.cli.incidents import console, plural, table
from sopflow.contract.names import ESCALATION_CHANNEL
from sopflow.language.library import default_definitions, load_library
from sopflow.language.models.destinations import Destination, address_kind

if TYPE_CHECKING:
    from activities.config import ActivitiesConfig, ChannelConfig

CONFIG_ENV = "SOPFLOW_CONFIG"  # the worker's; activities.config names it the same


class ChannelsFormat(StrEnum):
    table = "table"
    json = "json"


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One channel of the worker's configuration, without its secrets."""

    name: str
    kind: str
    target: str  # where it delivers: a webhook's host, an SMTP server, the log
    token: bool = False  # a webhook that sends a bearer token


def _load_destinations(root: Path) -> dict[str, Destination]:
    if not root.is_dir():
        raise fail(f"{root} is not a directory of SOP definitions")
    lib = load_library(root)
    if "Destinations" in lib.broken:
        raise fail(
            f"the Destinations document in {root} does not load: `sopflow lint {root}` says why"
        )
    return dict(lib.destinations.model.destinations) if lib.destinations else {}


def worker_channels() -> dict[str, ChannelInfo] | None:
    """The channels of the configuration ``$SOPFLOW_CONFIG`` names, or None when it names
    none. Exits 1 when the file cannot be used."""
    if not os.environ.get(CONFIG_ENV):
        return None
    # Imported here: the activities package loads every channel, which a listing without a
    # configuration does not need.
    from activities.config import ConfigError, load_config

    try:
        config = load_config()
    except ConfigError as exc:
        raise fail(str(exc)) from None
    return _channel_infos(config)


def _channel_infos(config: ActivitiesConfig) -> dict[str, ChannelInfo]:
    out = {name: _channel_info(name, spec) for name, spec in config.channels.items()}
    # The worker always has an escalation channel: the log, when none is configured.
    out.setdefault(ESCALATION_CHANNEL, ChannelInfo(ESCALATION_CHANNEL, "log", "the worker's log"))
    return dict(sorted(out.items()))


def _channel_info(name: str, spec: ChannelConfig) -> ChannelInfo:
    from activities.config import EmailChannelConfig, WebhookChannelConfig

    if isinstance(spec, WebhookChannelConfig):
        # The host only: a URL's path or query may hold a token.
        token = bool(spec.token_env or spec.token_file)
        return ChannelInfo(name, spec.kind, urlsplit(spec.url).netloc, token)
    if isinstance(spec, EmailChannelConfig):
        return ChannelInfo(name, spec.kind, f"{spec.host}:{spec.port}")
    return ChannelInfo(name, spec.kind, "the worker's log")


def delivery_problem(spec: Destination, channels: dict[str, ChannelInfo]) -> str | None:
    """Why the worker cannot deliver to ``spec``, or None when it can."""
    channel = channels.get(spec.channel)
    if channel is None:
        return f"channel `{spec.channel}` is not configured"
    kind = address_kind(spec.address)
    if channel.kind == "webhook" and kind != "url":
        return f"channel `{spec.channel}` is a webhook, and the address is not a URL"
    if channel.kind == "email" and kind != "email":
        return f"channel `{spec.channel}` is email, and the address is not an email address"
    return None


def token_note(spec: Destination, channels: dict[str, ChannelInfo]) -> str | None:
    """A warning when the channel's bearer token would go to another host than the one it
    is configured for: the token goes wherever the destination's address says."""
    channel = channels.get(spec.channel)
    host = urlsplit(spec.address).netloc if address_kind(spec.address) == "url" else ""
    if channel is None or not channel.token or not host or host == channel.target:
        return None
    return f"channel `{spec.channel}` sends its token to {host} too"


def destination_json(
    name: str, spec: Destination, channels: dict[str, ChannelInfo] | None
) -> dict[str, Any]:
    """One destination as stable JSON (keys always present; the checks null without a
    configuration)."""
    problem = delivery_problem(spec, channels) if channels is not None else None
    note = token_note(spec, channels) if channels is not None else None
    return {
        "name": name,
        "channel": spec.channel,
        "address": spec.address,
        "regions": list(spec.regions) if spec.regions is not None else None,
        "description": spec.description,
        "configured": None if channels is None else spec.channel in channels,
        "problem": problem,
        "note": note,
    }


def channels(
    output: ChannelsFormat = typer.Option(ChannelsFormat.table, "--format", "-f"),
    definitions: Path | None = DefinitionsOpt,
) -> None:
    """The library's named destinations; with $SOPFLOW_CONFIG, the worker's channels too."""
    destinations = _load_destinations(definitions or default_definitions())
    configured = worker_channels()
    found = [destination_json(n, d, configured) for n, d in sorted(destinations.items())]
    if output is ChannelsFormat.json:
        channel_list = (
            None
            if configured is None
            else [{"name": c.name, "kind": c.kind, "target": c.target} for c in configured.values()]
        )
        listing = {"destinations": found, "channels": channel_list}
        print(json.dumps(listing, indent=2, ensure_ascii=False))
    else:
        _print_tables(found, configured)
    problems = [d for d in found if d["problem"]]
    if problems:
        where = os.environ.get(CONFIG_ENV, "")
        names = ", ".join(f"{d['name']} ({d['problem']})" for d in problems)
        raise fail(f"{where} cannot deliver to {plural(len(problems), 'destination')}: {names}")


def _print_tables(found: list[dict[str, Any]], configured: dict[str, ChannelInfo] | None) -> None:
    if not found:
        print("No named destinations (a `kind: Destinations` document declares them).")
    else:
        console().print(_destinations_table(found, checked=configured is not None))
    if configured is None:
        print(f"${CONFIG_ENV} is not set: the worker's channels are not checked.")
        return
    print(f"Channels in {os.environ[CONFIG_ENV]}:")
    out = table("channel", "kind", "delivers to")
    for info in configured.values():
        out.add_row(info.name, info.kind, info.target)
    console().print(out)


def _destinations_table(found: list[dict[str, Any]], *, checked: bool) -> Table:
    columns = ["channel", "address", "regions", "description"]
    out = table("destination", *columns, *(["worker"] if checked else []))
    for d in found:
        regions = ", ".join(d["regions"]) if d["regions"] else "all"
        row = [d["name"], d["channel"], d["address"], regions, d["description"]]
        if checked:
            status = f"no: {d['problem']}" if d["problem"] else "configured"
            row.append(status + (f" ({d['note']})" if d["note"] else ""))
        out.add_row(*row)
    return out
