"""Console settings, from the environment (``WBO_…``) or the command line."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from wbo_tui.engine.policy import SecurityPolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = REPO_ROOT / "data"


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

    poll_interval_s: int = Field(default=300, ge=1)
    """Seconds between position polls of the upstream channels (one process polls per
    interval, however many consoles are open)."""

    clock_tick_s: float = Field(default=1.0, gt=0)
    """How often the header clock redraws (display only; not money)."""

    def security_policy(self) -> SecurityPolicy:
        return SecurityPolicy(
            lockout_threshold=self.lockout_threshold,
            lockout_duration_s=self.lockout_duration_s,
            password_min_length=self.password_min_length,
        )
