"""The Map tab's time picker, shown only when the model takes the time (manifest ``time_features``).

A time-aware model maps P(attribute | overhead, time): the analyst maps either at one date and
time, or every month of a range (one band per month, opened for the Temporal Controller). The
picker only turns those choices into the engine's ``MapParams.time`` / ``MapParams.months`` text
(ISO 8601, ``1-12``); what they mean is the engine's (``xview_engine.mapping.time_steps``).
"""

from __future__ import annotations

from typing import Optional

from qgis.PyQt.QtCore import QDate, QDateTime, QTime
from qgis.PyQt.QtWidgets import QComboBox, QDateTimeEdit, QHBoxLayout, QLabel, QSpinBox, QVBoxLayout, QWidget

MODES = ("Every month", "One time")
ISO_MINUTES = "yyyy-MM-ddTHH:mm"


class TimePicker(QWidget):
    """Mode (every month of a range / one time), the months, and the date and hour."""

    def __init__(self, parent: Optional[QWidget] = None):
        super().__init__(parent)
        self.setObjectName("XviewMapTime")
        self.mode = QComboBox(self)
        self.mode.setObjectName("XviewMapTimeMode")
        self.mode.addItems(MODES)
        self.first_month, self.last_month = (self._month_box(n, v) for n, v in (("First", 1), ("Last", 12)))
        self.when = QDateTimeEdit(QDateTime(QDate(2026, 1, 15), QTime(12, 0)), self)
        self.when.setObjectName("XviewMapTimeWhen")
        self.when.setDisplayFormat("yyyy-MM-dd HH:mm")
        self.when.setCalendarPopup(True)
        self.when.setToolTip("when to map: with every month, the day, hour and year each month is mapped at")
        months = QHBoxLayout()
        months.setContentsMargins(0, 0, 0, 0)
        for text, box in (("months", self.first_month), ("to", self.last_month)):
            months.addWidget(QLabel(text, self))
            months.addWidget(box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.mode)
        layout.addLayout(months)
        layout.addWidget(self.when)
        self.mode.currentIndexChanged.connect(self._mode_changed)
        self.set_manifest(None)

    def _month_box(self, name: str, value: int) -> QSpinBox:
        box = QSpinBox(self)
        box.setObjectName(f"XviewMapTime{name}Month")
        box.setRange(1, 12)
        box.setValue(value)
        box.setWrapping(True)
        box.setToolTip("a range may wrap over the new year, e.g. 11 to 2")
        return box

    def set_manifest(self, manifest) -> None:
        """Shown for a time-aware model only; a time-blind model's maps do not change with time."""
        self.setVisible(bool(manifest is not None and getattr(manifest, "takes_time", False)))
        self._mode_changed()

    def _mode_changed(self, *_args) -> None:
        every_month = self.mode.currentText() == MODES[0]
        self.first_month.setEnabled(every_month)
        self.last_month.setEnabled(every_month)

    def map_options(self) -> dict[str, Optional[str]]:
        """``MapParams`` fields: ``{'time': ..., 'months': ...}``, both None when the picker is hidden."""
        if self.isHidden():
            return {"time": None, "months": None}
        when = self.when.dateTime().toString(ISO_MINUTES)
        if self.mode.currentText() == MODES[0]:
            return {"time": when, "months": f"{self.first_month.value()}-{self.last_month.value()}"}
        return {"time": when, "months": None}
