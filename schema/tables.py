"""The Postgres tables, as SQLAlchemy models; Alembic migrations in ``migrations/`` follow them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, MetaData, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "EventRow"]


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "pk": "pk_%(table_name)s",
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
        }
    )


class EventRow(Base):
    """Every event ever committed, written by the durable writer exactly once.

    The key is the stream position: restaurant, the stream's epoch (it changes
    if the live history is ever reset) and the offset.
    """

    __tablename__ = "events"

    restaurant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    epoch: Mapped[str] = mapped_column(String(32), primary_key=True)
    offset: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(80)))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB)
    committed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
