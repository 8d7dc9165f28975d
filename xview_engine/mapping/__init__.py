"""Mapping: tiles in batches through the model, per-tile products, map and search runs, point queries."""
