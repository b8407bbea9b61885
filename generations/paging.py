"""Keyset pagination on (created_at, id): a page costs the same at row 100,000 as at row 1
(no OFFSET to skip over, no COUNT), and rows added meanwhile do not shift the pages.

A cursor is the (created_at, id) of the row a page continues from, written into the URL
as "<microseconds since the epoch>.<id>".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from django.db.models import Model, Q, QuerySet

M = TypeVar("M", bound=Model)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICRO = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Cursor:
    created_at: dt.datetime
    pk: int

    @classmethod
    def of(cls, row: Any) -> Cursor:
        return cls(row.created_at, row.pk)

    def encode(self) -> str:
        return f"{(self.created_at - _EPOCH) // _MICRO}.{self.pk}"

    @classmethod
    def decode(cls, raw: str | None) -> Cursor | None:
        """The cursor in `raw`, or None for anything that is not one (first page)."""
        micros, _, pk = (raw or "").partition(".")
        if not (micros.isdecimal() and pk.isdecimal() and len(micros) < 20 and len(pk) < 20):
            return None
        try:
            return cls(_EPOCH + int(micros) * _MICRO, int(pk))
        except OverflowError:
            return None


@dataclass
class KeysetPage(Generic[M]):
    items: list[M]
    previous: str | None = None  # cursor for the page before this one
    next: str | None = None  # cursor for the page after this one
    extra: dict[str, Any] = field(default_factory=dict)

    def __iter__(self) -> Any:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def has_other_pages(self) -> bool:
        return bool(self.previous or self.next)


def beyond(cursor: Cursor, *, descending: bool) -> Q:
    """Rows after `cursor` in (created_at, id) order, descending or ascending. The first
    term alone is what an index on created_at can seek to."""
    if descending:
        return Q(created_at__lte=cursor.created_at) & (
            Q(created_at__lt=cursor.created_at) | Q(created_at=cursor.created_at, pk__lt=cursor.pk)
        )
    return Q(created_at__gte=cursor.created_at) & (
        Q(created_at__gt=cursor.created_at) | Q(created_at=cursor.created_at, pk__gt=cursor.pk)
    )


def keyset_page(
    queryset: QuerySet[M],
    *,
    per_page: int,
    descending: bool = True,
    after: str | None = None,
    before: str | None = None,
) -> KeysetPage[M]:
    """One page in (created_at, id) order: the first, the one `after` a cursor, or the one
    `before` a cursor (going back). One query."""
    forward = ("-created_at", "-pk") if descending else ("created_at", "pk")
    backward = ("created_at", "pk") if descending else ("-created_at", "-pk")
    back_from = Cursor.decode(before)
    if back_from is not None:
        rows = list(
            queryset.filter(beyond(back_from, descending=not descending)).order_by(*backward)[
                : per_page + 1
            ]
        )
        more_before = len(rows) > per_page
        rows = rows[:per_page][::-1]
        return KeysetPage(
            rows,
            previous=Cursor.of(rows[0]).encode() if more_before and rows else None,
            next=Cursor.of(rows[-1]).encode() if rows else None,
        )
    start = Cursor.decode(after)
    if start is not None:
        queryset = queryset.filter(beyond(start, descending=descending))
    rows = list(queryset.order_by(*forward)[: per_page + 1])
    more_after = len(rows) > per_page
    rows = rows[:per_page]
    return KeysetPage(
        rows,
        previous=Cursor.of(rows[0]).encode() if start is not None and rows else None,
        next=Cursor.of(rows[-1]).encode() if more_after and rows else None,
    )
