"""One exception root for everything a user can cause.

Every message names the input, says what is wrong and what to do. The CLI prints it as one line
(`xview: error: ...`, exit 2); the plugin shows it in the message bar. Any other exception is a bug.
"""

from __future__ import annotations


class XviewError(Exception):
    """Root of all user-facing errors."""


class ModelFileError(XviewError):
    """A model file is missing, damaged, unsafe or inconsistent with its manifest."""


class ManifestError(ModelFileError):
    """The JSON manifest of a model file is malformed or describes something unknown."""


class LabelSpaceError(XviewError):
    """A label space or class name is unknown."""


class DeviceError(XviewError):
    """The requested compute device is not available."""


class SourceError(XviewError):
    """A raster or photo cannot be read or is unusable for mapping."""


class TilingError(XviewError):
    """A tiling request is impossible or absurd (too many tiles, extent smaller than a tile)."""


class OutputError(XviewError):
    """An output cannot be written (exists without --overwrite, folder missing, ...)."""


class QueryError(XviewError):
    """A search expression cannot be parsed or names unknown heads/classes."""


class DependencyError(XviewError):
    """An optional dependency is missing; the message gives the exact install line."""


class InstallError(DependencyError):
    """Installing the engine's dependencies failed (pip failed, folder not writable, no Python found)."""


class XviewWarning(UserWarning):
    """Something a user should know that does not stop the run (a photo without usable GPS). The CLI
    prints it as one line ``xview: warning: ...``."""


class Cancelled(XviewError):
    """The user cancelled a long run; nothing was written."""


class SynthError(XviewError):
    """A synthetic-world request is impossible (bad size, field of view, CRS, ...)."""


class TeacherError(XviewError):
    """A ground-level teacher cannot be built or run (bad spec, missing or unfit weight file, bad photo)."""


class TrainingError(XviewError):
    """A training request is impossible (no pairs, labels that do not match the model, bad resume, ...)."""


class LabelFileError(XviewError):
    """A label file (per-photo distributions per head) is missing, malformed or does not fit its use."""


class PairsError(XviewError):
    """A pairs CSV (photo, position, split) is missing, lacks a column or holds a non-number."""


class IndexFileError(XviewError):
    """A localization index is missing, damaged, stale (its raster changed) or built with another model."""


class WeightsError(XviewError):
    """A published weight file is unknown, missing on an offline machine, failed to download, or does not match
    its published digest (then it is removed, never loaded)."""
