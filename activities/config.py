"""The activities' configuration: notification channels, read from the TOML file named by
``$SOPFLOW_CONFIG``.

```toml
[channels.webhook]
kind = "webhook"
url = "https://hooks.example/sopflow"
token_env = "SOPFLOW_WEBHOOK_TOKEN"   # optional bearer token, from the environment

[channels.email]
kind = "email"
host = "smtp.example"
port = 587
from = "sopflow@example.org"
tls = "starttls"
username = "sopflow"
password_env = "SOPFLOW_SMTP_PASSWORD"  # or password_file = "/run/secrets/smtp"

[channels.email.roles]                # role -> addresses; the Roster answers otherwise
lead = ["leads@example.org"]

[channels.pager]
kind = "log"                          # any channel name may be backed by the log
```

The channel ``log`` exists without any file. Secrets never sit in the file: only the name of
an environment variable or of a file holding them, read once when the worker builds its
channels. Tables other than ``[channels]`` belong to other parts of sopflow and are ignored
here; inside ``[channels]`` an unknown field is an error, so a typo cannot pass silently.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

CONFIG_ENV = "SOPFLOW_CONFIG"
LOG_CHANNEL = "log"


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and what is wrong."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class LogChannelConfig(_Config):
    """Write notifications to the structured log (development, rehearsals)."""

    kind: Literal["log"] = "log"


class WebhookChannelConfig(_Config):
    """POST each notification as JSON to ``url``."""

    kind: Literal["webhook"]
    url: str
    timeout_s: float = Field(default=10.0, gt=0)
    token_env: str | None = None
    token_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        # urllib also opens file: and ftp: URLs; a webhook is HTTP(S) only.
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"url must start with http:// or https://, not {url!r}")
        return url

    @model_validator(mode="after")
    def _one_secret_source(self) -> WebhookChannelConfig:
        if self.token_env and self.token_file:
            raise ValueError("set token_env or token_file, not both")
        return self


class EmailChannelConfig(_Config):
    """Send each notification by SMTP."""

    kind: Literal["email"]
    host: str = Field(min_length=1)
    port: int = Field(default=25, ge=1, le=65535)
    from_: str = Field(alias="from", pattern=r"^[^@\s]+@[^@\s]+$")
    tls: Literal["none", "starttls", "ssl"] = "none"
    timeout_s: float = Field(default=30.0, gt=0)
    username: str | None = None
    password_env: str | None = None
    password_file: Path | None = None
    # The domain of the deterministic Message-ID; the sender's domain when not set.
    message_id_domain: str | None = None
    # role -> addresses, consulted before the Roster.
    roles: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("roles", mode="before")
    @classmethod
    def _single_address(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [v] if isinstance(v, str) else v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _secrets(self) -> EmailChannelConfig:
        has_password = bool(self.password_env or self.password_file)
        if self.password_env and self.password_file:
            raise ValueError("set password_env or password_file, not both")
        if has_password and not self.username:
            raise ValueError("a password needs a username")
        if has_password and self.tls == "none":
            raise ValueError('a password is only sent over TLS: set tls = "starttls" or "ssl"')
        return self


ChannelConfig = Annotated[
    LogChannelConfig | WebhookChannelConfig | EmailChannelConfig,
    Field(discriminator="kind"),
]


class ActivitiesConfig(_Config):
    """What the activities need to know about the outside world."""

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    # Where the file came from, to resolve relative secret files and to name it in errors.
    source: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _log_always(cls, data: Any) -> Any:
        if isinstance(data, dict):
            channels = data.get("channels") or {}
            if isinstance(channels, dict) and LOG_CHANNEL not in channels:
                data = {**data, "channels": {LOG_CHANNEL: {"kind": "log"}, **channels}}
        return data


def load_config(path: Path | None = None) -> ActivitiesConfig:
    """The configuration in ``path``, else in ``$SOPFLOW_CONFIG``, else the defaults (the
    ``log`` channel only). Raises ConfigError naming the file and the problem."""
    if path is None:
        named = os.environ.get(CONFIG_ENV)
        if not named:
            return ActivitiesConfig()
        path = Path(named)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (named by ${CONFIG_ENV})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, source=path)


def parse_config(data: dict[str, Any], *, source: Path | None = None) -> ActivitiesConfig:
    """Validate already-parsed TOML data; every problem is listed, each with its key path."""
    where = str(source) if source else "<config>"
    try:
        return ActivitiesConfig.model_validate(
            {"channels": data.get("channels", {}), "source": source}
        )
    except ValidationError as exc:
        problems = [
            f"{where}: {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
            for err in exc.errors(include_url=False)
        ]
        raise ConfigError("\n".join(problems)) from None


def resolve_secret(
    *, env: str | None, file: Path | None, what: str, config: ActivitiesConfig
) -> SecretStr | None:
    """The secret named by an environment variable or held in a file, or None when the
    configuration names neither. A file path is relative to the configuration file."""
    where = str(config.source) if config.source else "<config>"
    if env:
        value = os.environ.get(env)
        if not value:
            raise ConfigError(f"{where}: {what} names ${env}, which is not set")
        return SecretStr(value)
    if file is not None:
        target = (
            file if file.is_absolute() or config.source is None else config.source.parent / file
        )
        try:
            value = target.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise ConfigError(f"{where}: {what} file {target}: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"{where}: {what} file {target} is empty")
        return SecretStr(value)
    return None
