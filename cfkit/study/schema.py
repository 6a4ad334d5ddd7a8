"""Database schema of a study (SQLAlchemy 2 ORM); works on SQLite and PostgreSQL.

Volunteer-facing code only ever handles ``Image.token`` (random, opaque); the mapping from an
image to its method lives in this database and never leaves the server.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import JSON, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    config: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    methods: Mapped[list[StudyMethod]] = relationship(back_populates="study", order_by="StudyMethod.id")


class StudyMethod(Base):
    __tablename__ = "methods"
    __table_args__ = (UniqueConstraint("study_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    folder: Mapped[str] = mapped_column(Text, default="")
    study: Mapped[Study] = relationship(back_populates="methods")


class Image(Base):
    __tablename__ = "images"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(10))  # source | output | broken
    source_key: Mapped[str] = mapped_column(String(300))
    method_id: Mapped[int | None] = mapped_column(ForeignKey("methods.id"), nullable=True)


class Item(Base):
    """One thing to be rated: a source with its outputs (Likert/rank) or with two outputs (pairwise)."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("study_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(400))
    source_image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    output_ids: Mapped[list] = mapped_column(JSON)
    stratum: Mapped[str] = mapped_column(String(200), default="")


class Participant(Base):
    __tablename__ = "participants"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    completion_code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Trial(Base):
    __tablename__ = "trials"
    __table_args__ = (UniqueConstraint("participant_id", "seq"), Index("ix_trials_item", "item_id"))
    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    kind: Mapped[str] = mapped_column(String(10), default="main")  # main | duplicate | broken | skipped (not shown)
    ref_seq: Mapped[int | None] = mapped_column(Integer, nullable=True)  # duplicate: the trial it repeats
    layout: Mapped[list] = mapped_column(JSON)  # image ids in display order (randomised per trial)
    shown_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Response(Base):
    """One value: a Likert score, a rank (1 = best) or a pairwise choice (1 chosen, 0 not)."""

    __tablename__ = "responses"
    __table_args__ = (UniqueConstraint("trial_id", "criterion", "image_id", name="uq_response"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    criterion: Mapped[str] = mapped_column(String(100))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    value: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StimulusProblem(Base):
    """An image the volunteer page could not show; for the admin only (``detail`` names the file)."""

    __tablename__ = "stimulus_problems"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"), index=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), unique=True)
    detail: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
