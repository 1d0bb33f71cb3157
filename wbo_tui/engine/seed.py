"""Loading roles and operators from a JSON file (the demo data in ``data/``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .admin import CreateOperator, CreateRole
from .api import Engine
from .uow import Actor

SEED_ACTOR = Actor.system("seed")


async def seed(engine: Engine, data: dict[str, Any]) -> None:
    """Create the roles and operators in ``data`` through the engine's own commands,
    so the seed itself is validated and audited."""
    for role in data.get("roles", []):
        await engine.execute(SEED_ACTOR, CreateRole(**role))
    for op in data.get("operators", []):
        await engine.execute(SEED_ACTOR, CreateOperator(**op))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())
