"""Console settings, from the environment (``WBO_…``) or the command line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from wbo_tui.engine.policy import SecurityPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"


def user_data_dir() -> Path:
    """The console's per-user data folder: ``$XDG_DATA_HOME/wbo-tui`` (by default
    ``~/.local/share/wbo-tui``)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "wbo-tui"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WBO_", extra="ignore")

    db_url: str = "sqlite:///wbo.db"
    """Database URL: ``sqlite:///path/to/file.db`` or ``postgresql://user@host/dbname``."""

    idle_lock_s: int = Field(default=300, ge=5)
    """Seconds without a key press or mouse event before the console locks itself."""

    lockout_threshold: int = Field(default=5, ge=1)
    """Consecutive failed passwords that lock an operator account."""

    lockout_duration_s: int = Field(default=900, ge=1)
    """How long a locked-out account stays locked unless an administrator unlocks it."""

    password_min_length: int = Field(default=10, ge=8)
    """Shortest password accepted when one is set or changed."""

    session_max_age_s: int = Field(default=12 * 3600, ge=60)
    """A login session's absolute lifetime in seconds; the operator logs in again after it."""

    poll_interval_s: int = Field(default=300, ge=1)
    """Seconds between position polls of the upstream channels (one process polls per
    interval, however many consoles are open)."""

    delivery_interval_s: float = Field(default=5.0, gt=0)
    """Seconds between passes of the notification delivery loop (email, webhooks)."""

    allocation_interval_s: float = Field(default=2.0, gt=0)
    """Seconds between passes of the allocation engine: new events and due schedule fire
    times are decided (once across all consoles), transfers are carried out."""

    smtp_host: str | None = None
    """SMTP server for email alerts; without one, email deliveries fail visibly and retry."""

    smtp_port: int = 25
    """SMTP port."""

    smtp_sender: str = "wbo-console@localhost"
    """The From address of alert emails."""

    smtp_starttls: bool = False
    """Upgrade the SMTP connection with STARTTLS (required for a username and password)."""

    smtp_username: str | None = None
    """SMTP login, sent only over STARTTLS."""

    smtp_password: str | None = None
    """SMTP password, sent only over STARTTLS."""

    webhook_timeout_s: float = Field(default=10.0, gt=0)
    """How long a webhook POST may take before it counts as failed (and is retried)."""

    clock_tick_s: float = Field(default=1.0, gt=0)
    """How often the header clock redraws (display only; not money)."""

    audit_key_file: Path | None = None
    """The file holding the audit chain's HMAC key (64 hex digits; ``wbo-tui audit new-key
    FILE`` makes one), readable only by the console's service account.  The database never
    holds it, so whoever can write the database alone cannot recompute an edited record's
    hash.  Without it the console still runs, but the chain is unanchored (``wbo-tui audit
    verify`` and ``wbo-tui doctor`` say so); once the chain is keyed, a console without the
    key is refused rather than left to write records nobody could check."""

    audit_anchor_file: Path | None = None
    """The append-only file every console writes the audit chain's head to (one JSON line
    per anchor: periodically, at clean shutdown, and on ``wbo-tui audit verify``); verify
    checks the log against it, so records cut off the end are detected."""

    audit_anchor_interval_s: float = Field(default=60.0, gt=0)
    """Seconds between a console's anchors: what a truncation of the log could remove
    unnoticed is at most the records written since the last anchor."""

    export_dir: Path | None = None
    """The folder CSV exports are written to (created on the first export); by default
    ``$XDG_DATA_HOME/wbo-tui/exports`` (``~/.local/share/wbo-tui/exports``), never the
    folder the console was started from."""

    simulator_dir: Path | None = None
    """Where ``wbo-tui seed`` puts a simulated bank's store (``{data_dir}`` in a channel's
    gateway settings); by default beside a SQLite database, else ``$XDG_DATA_HOME/wbo-tui``.
    (``wbo-tui demo`` keeps its bank beside the demo database.)"""

    service_user: str = "wbo"
    """The account the console runs under in a deployment; ``wbo-tui doctor`` expects it to
    own the database, key and anchor files."""

    def export_folder(self) -> Path:
        """The folder CSV exports go to (``export_dir`` or the per-user default)."""
        return (self.export_dir or user_data_dir() / "exports").expanduser()

    def simulator_folder(self) -> Path:
        """The folder for a seeded simulated bank's store (``simulator_dir``, else beside a
        SQLite database file, else the per-user data folder)."""
        if self.simulator_dir is not None:
            return self.simulator_dir.expanduser()
        sqlite_file = re.fullmatch(r"sqlite(?:\+\w+)?:///([^?]+)(?:\?.*)?", self.db_url)
        if sqlite_file and sqlite_file.group(1) != ":memory:":
            return Path(sqlite_file.group(1)).expanduser().resolve().parent
        return user_data_dir()

    def notification_senders(self) -> dict[str, Any]:
        """Email and webhook senders for the delivery loop, from these settings."""
        from wbo_tui.engine.notify.channels import SmtpServer, make_senders

        smtp = None
        if self.smtp_host:
            smtp = SmtpServer(host=self.smtp_host, port=self.smtp_port, sender=self.smtp_sender,
                              starttls=self.smtp_starttls, username=self.smtp_username, password=self.smtp_password)
        return make_senders(smtp, webhook_timeout_s=self.webhook_timeout_s)

    def audit_key(self) -> bytes | None:
        """The audit key from ``audit_key_file`` (None when none is configured); a missing,
        unreadable or world-readable file is the engine's ``AuditKeyFileError``."""
        from wbo_tui.engine.audit_anchor import load_key

        return None if self.audit_key_file is None else load_key(self.audit_key_file)

    def security_policy(self) -> SecurityPolicy:
        return SecurityPolicy(
            lockout_threshold=self.lockout_threshold,
            lockout_duration_s=self.lockout_duration_s,
            password_min_length=self.password_min_length,
            session_max_age_s=self.session_max_age_s,
        )
