"""The MLmodel package format: what is on disk, how it is checked, and how its bytes are opened."""

from __future__ import annotations

__all__: list[str] = []
