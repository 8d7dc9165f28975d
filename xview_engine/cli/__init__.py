"""The `xview` command line: one module per command, each a thin adapter over engine functions."""
