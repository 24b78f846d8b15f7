"""Indexing primitives: dynamic_slice, dynamic_update_slice, gather, scatter (and variants)."""

from __future__ import annotations
