"""Schema migrations (Alembic): bring any earlier mailhub database to the current schema."""
from __future__ import annotations

from typing import Optional

from sqlalchemy.engine import Engine


def problem(engine: Engine) -> Optional[str]:
    """None when the database is at the schema this code needs; otherwise one line saying what is
    wrong and the command to run."""
    return None
