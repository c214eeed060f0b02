"""A memo keyed by the identity of objects that are placed many times but cost too much to hash.

The engines' per-request work reads the same large tuples (a model's weight chunks, its per-layer bytes,
a stand-in vocabulary) for every machine; results derived from them are remembered by the tuple's ``id``
plus a few hashable parts. An entry keeps its objects alive, so an id cannot be reused while the entry
exists, and a lookup checks the objects are the same ones. When full, the oldest entry goes (first in, first out:
an LRU's bookkeeping on every hit would cost more than it saves here, and starting over made every entry again at
once, a slow stretch of requests every time a long-running process filled a memo).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class IdentityMemo(Generic[V]):
    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._entries: dict[tuple[tuple[int, ...], Hashable], tuple[tuple[object, ...], V]] = {}

    def get(self, anchors: tuple[object, ...], extra: Hashable, make: Callable[[], V]) -> V:
        """The value for ``anchors`` (by identity) and ``extra`` (by value), made by ``make`` on a miss."""
        key = (tuple(map(id, anchors)), extra)
        got = self._entries.get(key)
        if got is not None and all(map(operator.is_, got[0], anchors)):  # same ids, so same lengths
            return got[1]
        value = make()
        if len(self._entries) >= self.maxsize:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (anchors, value)
        return value

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
