"""Tests mirror the engine's packages (raster/, model/, mapping/, localization/, ...) and the plugin
(plugin/). This file sits in tests/ so that pytest puts tests/ on sys.path: the shared fixture
modules (``mapping_fixtures``, ``localize_fixtures``) import from every folder."""
