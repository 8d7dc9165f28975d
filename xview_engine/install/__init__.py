"""Installing the engine's dependencies into a folder the QGIS plugin owns, and checking them.

Torch in QGIS' Python is the top complaint of every QGIS deep-learning plugin: the Python beside
QGIS is hard to find, Debian's refuses ``pip install --user`` (PEP 668), and numpy must stay the one
QGIS' bindings were built against. This package is pure standard library (torch is imported only to
describe it), so the plugin can use it before any dependency exists:

- ``requirements``: what the engine needs (pins, minimums), and what is installed, where from;
- ``interpreter``: the Python beside QGIS' executable, and whether it is externally managed;
- ``cuda``: what ``nvidia-smi`` says, and which torch build fits the driver;
- ``plan``: the pip command line and the install itself (temp folder renamed into place);
- ``bootstrap``: the plugin-owned folder, put on ``sys.path`` before the engine is imported;
- ``report``: the diagnostics report of ``xview doctor`` and the plugin's panel.
"""
