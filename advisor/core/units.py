"""Byte units, one home: memory sizes are binary (a "16 GB" card or Mac holds 16 GiB)."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
