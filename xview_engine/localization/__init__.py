"""Localization: indexes of every tile, the method registry that scores photos against them, and the
localize, evaluate and retrieve tools built on it."""
