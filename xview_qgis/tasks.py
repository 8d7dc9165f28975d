"""Background work: thin ``QgsTask`` subclasses over the engine's tools, and one error funnel.

``run()`` (a worker thread) calls one engine function with a progress callback (``setProgress``,
per batch of tiles) and a cancel check (``isCanceled``), and stores either the result or the
exception; it never touches the GUI. ``finished()`` (the main thread) hands the task to a callback
that adds layers or reports the error. Errors go through ``report_error``: an ``XviewError`` is
the user's to fix and its one-line message goes to the message bar; anything else is a bug, said
as such in the bar with its traceback in the log panel (tab "xview").

QGIS keeps no Python reference to a task it runs, so ``start_task`` keeps one in ``RUNNING`` until
the task has finished or was cancelled; a task collected early crashes QGIS.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Optional

from qgis.core import Qgis, QgsApplication, QgsMessageLog, QgsTask

from xview_engine.errors import Cancelled, XviewError

LOG_TAG = "xview"
RUNNING: set[QgsTask] = set()
Work = Callable[[Callable[[int, int], None], Callable[[], bool]], Any]


class XviewTask(QgsTask):
    """Runs ``work(progress, cancel)`` in the background; ``on_done(task)`` runs on the main thread."""

    def __init__(self, description: str, work: Work, on_done: Optional[Callable[[XviewTask], None]] = None,
                 cleanup: Optional[Callable[[], None]] = None):
        super().__init__(description, QgsTask.Flag.CanCancel)
        self.work, self.on_done, self.cleanup = work, on_done, cleanup
        self.result: Any = None
        self.error: Optional[BaseException] = None
        self.details = ""

    def run(self) -> bool:  # worker thread: engine only
        try:
            self.result = self.work(self._progress, self.isCanceled)
            return not self.isCanceled()
        except Exception as exc:  # stored, reported by finished() on the main thread
            self.error = exc
            self.details = "" if isinstance(exc, XviewError) else traceback.format_exc()
            return False

    def finished(self, ok: bool) -> None:  # main thread
        try:
            if self.cleanup is not None:
                self.cleanup()
            if not ok and self.error is None:
                self.error = Cancelled("cancelled by the user; no output was written")
            if self.on_done is not None:
                self.on_done(self)
        finally:
            RUNNING.discard(self)

    @property
    def cancelled(self) -> bool:
        return isinstance(self.error, Cancelled) or self.isCanceled()

    def _progress(self, done: int, total: int) -> None:
        self.setProgress(100.0 * done / total if total else 100.0)


def start_task(task: XviewTask) -> XviewTask:
    """Hand a task to the QGIS task manager (progress and Cancel show there) and keep a reference."""
    RUNNING.add(task)
    QgsApplication.taskManager().addTask(task)
    return task


def report_error(message_bar, error: BaseException, details: str = "", title: str = "xview") -> str:
    """Show an error the one way the plugin does; returns the line shown. ``message_bar`` may be None."""
    if isinstance(error, Cancelled):
        line, level = str(error), Qgis.MessageLevel.Info
    elif isinstance(error, XviewError):
        line, level = str(error), Qgis.MessageLevel.Warning
    else:
        line = f"xview hit a bug ({type(error).__name__}: {error}); the details are in the Log Messages panel"
        level = Qgis.MessageLevel.Critical
    QgsMessageLog.logMessage(f"{line}\n{details}".strip(), LOG_TAG, level)
    if message_bar is not None:
        message_bar.pushMessage(title, line, level, 0 if level == Qgis.MessageLevel.Critical else 10)
    return line


def report_success(message_bar, line: str, title: str = "xview") -> None:
    """A short success note in the message bar and the log."""
    QgsMessageLog.logMessage(line, LOG_TAG, Qgis.MessageLevel.Info)
    if message_bar is not None:
        message_bar.pushMessage(title, line, Qgis.MessageLevel.Success, 5)


def report_warning(message_bar, line: str, title: str = "xview") -> None:
    """A result that must not read as a success (e.g. a synthetic model on real imagery): a warning that stays."""
    QgsMessageLog.logMessage(line, LOG_TAG, Qgis.MessageLevel.Warning)
    if message_bar is not None:
        message_bar.pushMessage(title, line, Qgis.MessageLevel.Warning, 0)


def log(line: str) -> None:
    """Engine progress notes ('12,345 tiles to run ...') to the log panel; safe from worker threads."""
    QgsMessageLog.logMessage(line, LOG_TAG, Qgis.MessageLevel.Info)
