"""Backup schedule maths, one place for all: which technology runs when, its window, its calendar.

A cloud installation runs three technologies a day, each at its own time (config
`backup.times`, in the order of TECHNOLOGIES). Each technology's window runs from its start to the
next technology's start, so no two overlap: AWS Backup's start and completion windows, and the
runtime limit of the instance's timers, are both cut from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from components.config import Installation
from components.freshness import BLOCK, DATABASE, FILES, TECHNOLOGIES

__all__ = ["BLOCK", "DATABASE", "FILES", "TECHNOLOGIES", "Slot", "check_start", "cloud_slots", "slot"]
AWS_BACKUP_START_WINDOW_MINUTES = 60  # AWS Backup's minimum
# How late a run's result may arrive after its window ends before the checker calls the run silent
# (both hostings' jobs write it into their results as `next_due`).
REPORT_GRACE_SECONDS = 600


@dataclass(frozen=True)
class Slot:
    technology: str
    start: time
    window_minutes: int  # until the next technology starts

    def aws_cron(self) -> str:
        """AWS schedule expression (UTC) for a daily run at `start`."""
        return f"cron({self.start.minute} {self.start.hour} ? * * *)"

    def systemd_calendar(self, timezone: str = "UTC") -> str:
        return f"*-*-* {self.start:%H:%M}:00 {timezone}"


def _windows(starts: list[time]) -> list[int]:
    minutes = [t.hour * 60 + t.minute for t in starts]
    windows = []
    for minute in minutes:
        later = [(other - minute) % (24 * 60) for other in minutes if other != minute]
        windows.append(min(later) if later else 24 * 60)
    return windows


def cloud_slots(installation: Installation) -> list[Slot]:
    """The three technologies with their start times and windows."""
    starts = installation.backup_times
    return [Slot(tech, start, window) for tech, start, window in zip(TECHNOLOGIES, starts, _windows(starts))]


def slot(installation: Installation, technology: str) -> Slot:
    return next(s for s in cloud_slots(installation) if s.technology == technology)



def check_start(starts: list[str], window_minutes: int) -> str:
    """When the daily deep check of a repository starts (HH:MM, in the backups' time zone): as the
    window of the backup followed by the longest pause ends, so that the check (which locks the
    repository exclusively and stops 5 minutes before the next backup) gets the most time."""
    minutes = sorted(int(t[:2]) * 60 + int(t[3:5]) for t in starts)
    pauses = [((minutes[(i + 1) % len(minutes)] - m) % (24 * 60)) or 24 * 60 for i, m in enumerate(minutes)]
    longest = pauses.index(max(pauses))
    start = (minutes[longest] + min(window_minutes, pauses[longest] // 2)) % (24 * 60)
    return f"{start // 60:02d}:{start % 60:02d}"
