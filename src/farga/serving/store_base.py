"""What every part of the feedback store shares: its errors, the faults that pass, and the engine.

The store is split by concern: the write-behind prediction log and the feedback writes
(store.py), the reads and reviews (queries.py), and what the retention period and the pseudonym
key need (retention.py); the tables are in tables.py, their history in migrations/.
"""

from __future__ import annotations

import logging

from sqlalchemy.engine import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker


class NotFoundError(LookupError):
    pass


class StoreUnavailableError(RuntimeError):
    """The database is not taking writes (down, locked, slow or out of disk): the service answers 503."""


class StoreBusyError(StoreUnavailableError):
    """The prediction log cannot keep up (the database is down or too slow): the service answers 503."""


# what a write can meet from the database that passes: a server down or restarting, a lock, a full disk
TRANSIENT = (OperationalError, InterfaceError)

log = logging.getLogger("farga.serving")


class StoreBase:
    """The engine and session factory every part of the store works through (set by FeedbackStore)."""

    engine: Engine
    sessions: sessionmaker[Session]
