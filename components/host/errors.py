"""Every problem with a customer's host is a `HostError`.

Its message names the host and says what to do; its detail stays on it (a command's result, the
exception it came from); its `outcome` says what a script reports for it. Each script maps the
four outcomes to its documented exit codes (`scripts/_host_access.py`, `host_failure`), so a new
error class only has to choose its outcome:

    refused      the host is not as the toolkit needs it; nothing was changed
    unreachable  cannot connect or log in, or the host key is not the expected one; nothing ran
    lost         the connection ended while a command ran; whether it finished is unknown
    failed       a command, step, verification or restore failed; what was done is said
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

if TYPE_CHECKING:
    from components.host.ssh import CommandResult

OUTCOMES = ("refused", "unreachable", "lost", "failed")


class HostError(Exception):
    """A problem with a host that a person must look at; the message names the host."""

    outcome = "failed"


class Unreachable(HostError):
    """Cannot connect, log in or read the SSH key: nothing was run on the host."""

    outcome = "unreachable"


class HostKeyError(Unreachable):
    """The host's key is unknown or not the expected one: nothing was run."""


class ConnectionLost(HostError):
    """The connection ended while a command ran: whether it finished is unknown. Every step the
    toolkit runs is safe to repeat, so the answer is to run again."""

    outcome = "lost"


class CommandError(HostError):
    """A command failed or ran past its deadline."""

    def __init__(self, message: str, result: Optional[CommandResult] = None):
        super().__init__(message)
        self.result = result


class Refused(HostError):
    """The host is not as the toolkit needs it, or a person's answer does not fit it: nothing was
    changed."""

    outcome = "refused"


class FactsUnreadable(Refused):
    """The host answered, but not with what the facts script prints: nothing was changed."""


class StalePlan(Refused):
    """The host changed between planning and applying; nothing was applied."""


class ReportUnreadable(Refused):
    """A probe ran but its answer cannot be judged (unreadable, or the daily change unknown)."""


class StepFailed(HostError):
    """A step failed; the steps before it were applied, a re-run continues from there."""


class VerifyFailed(HostError):
    """Apply finished but the host is not in the desired state."""


class RestoreError(HostError):
    """The restore could not be done; the message says why and what was left where."""
