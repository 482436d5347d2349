"""The one exception root of bricksmith.

Every error a user can meet is a :class:`BricksmithError`: it says what is wrong, where,
and (in ``hint``) how to fix it. Lower-level errors (GitPython, OSError, subprocess, SDKs)
are mapped into the most specific subclass at the boundary where they happen.
The CLI prints these without a traceback and exits 1.
"""

from __future__ import annotations

from collections import namedtuple


class BricksmithError(Exception):
    """Root of every error bricksmith raises on purpose."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


# a named tuple rather than a dataclass: importing dataclasses costs more than a plan memo's
# whole replay, and every command imports this module
_DiagnosticFields = namedtuple("_DiagnosticFields", "file line column path message hint",
                               defaults=(None,))


class Diagnostic(_DiagnosticFields):
    """One problem in a spec file: where it is, what is wrong, how to fix it.

    ``line`` and ``column`` are 1-based (None when unknown); ``path`` is the key path in the
    document, e.g. "runs[1].params" ("" for the document)."""

    __slots__ = ()

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def render(self) -> str:
        text = f"{self.location()}: {self.path + ': ' if self.path else ''}{self.message}"
        if self.hint:
            text += f"\n    hint: {self.hint}"
        return text


class SpecError(BricksmithError):
    """The workflow spec is invalid. Carries every problem found, not only the first."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        count = len(self.diagnostics)
        head = f"{count} problem{'s' if count != 1 else ''} in the workflow spec"
        body = "\n".join(d.render() for d in self.diagnostics)
        super().__init__(f"{head}:\n{body}", hint=None)


class UsageError(BricksmithError):
    """A command-line argument is wrong (unknown target, bad --var, missing file)."""


class ProjectConfError(BricksmithError):
    """The Kedro project's configuration cannot be read as Kedro reads it (settings.py,
    CONF_SOURCE, a parameters file Kedro refuses)."""


class StateError(BricksmithError):
    """The state database cannot be read or written."""


class StalePlan(BricksmithError):
    """A saved plan no longer describes what apply would do (the state or the spec moved)."""


class LockHolder(namedtuple("_LockHolderFields", "pid host started command", defaults=(""))):
    """Who holds a target's lock: process id, host, start time and command line."""

    __slots__ = ()

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host}, started {self.started}" + (
            f" ({self.command})" if self.command else ""
        )


class LockedError(BricksmithError):
    """Another apply holds the target's lock."""


class StepError(BricksmithError):
    """A step failed while applying. ``step`` names it; ``log_tail`` holds the end of its log."""

    def __init__(
        self, message: str, *, hint: str | None = None, log_tail: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.log_tail = log_tail


class ScaffoldError(StepError):
    """Kedro could not create the project from the starter."""


class GitError(StepError):
    """A git operation failed (commit, push, clone, fetch)."""


class DataSyncError(StepError):
    """Copying data to (emulated) DBFS failed or the source is missing."""


class EnvironmentBuildError(StepError):
    """The isolated run environment could not be built from requirements.txt."""


class RunFailedError(StepError):
    """A notebook run failed (inside Kedro or the notebook)."""


class BackendError(BricksmithError):
    """A backend cannot do what was asked (not configured, not available)."""


class ApplyFailed(BricksmithError):
    """An apply stopped because one or more steps failed."""

    def __init__(self, message: str, *, hint: str | None = None, report=None) -> None:
        super().__init__(message, hint=hint)
        self.report = report


class WorkspaceEdits(BricksmithError):
    """Files edited in the workspace Git folder would be overwritten (apply), or cannot be
    brought into the project as they are (pull: a conflict)."""


class Problem(namedtuple("_ProblemFields", "what where fix")):
    """One thing apply needs that is not there (found by the preflight before any step):
    ``what`` is wrong, ``where`` it comes from (a spec key with its file:line, a target, an
    environment variable), ``fix``: how to fix it."""

    __slots__ = ()

    def render(self) -> str:
        return f"- {self.where}: {self.what}\n    hint: {self.fix}"

    def line(self) -> str:
        """The problem in one line (a plan's warning)."""
        return f"{self.where}: {self.what}; {self.fix}"


class PreflightFailed(BricksmithError):
    """What apply needs is missing or unreachable: every problem found, before anything
    changed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"{count} problem{'s' if count != 1 else ''} found before changing anything"
        body = "\n".join(p.render() for p in self.problems)
        super().__init__(f"{head}:\n{body}",
                         hint="nothing was changed: fix them, then run the command again")
