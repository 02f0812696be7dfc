"""Errors that lowstakes raises on purpose, each with a message a person can act on."""

from __future__ import annotations

__all__ = ["LowstakesError", "ScenarioError", "HarmBoundError", "IncompleteRunError", "RunDirectoryError",
           "LateFailure"]


class LowstakesError(Exception):
    """Base class: the CLI prints these as one message and exits with status 2."""


class ScenarioError(LowstakesError):
    """A scenario is invalid.

    Each problem is a ``(path, message)`` pair; ``path`` is a tuple of keys and list
    indices such as ``("stream", "shifts", 0, "at")``. ``marks`` maps a path to the
    ``(line, column)`` of that value in the YAML file, when known.

    Examples
    --------
    >>> err = ScenarioError([(("stream", "label_noise"), "must be below 0.5, got 0.7")],
    ...                     file="s.yaml", marks={("stream", "label_noise"): (6, 16)})
    >>> print(err)
    s.yaml:6:16: stream.label_noise: must be below 0.5, got 0.7
    """

    def __init__(self, problems, *, file=None, marks=None):
        self.problems = [(tuple(path), message) for path, message in problems]
        self.file = file
        self.marks = marks or {}
        super().__init__(str(self))

    @staticmethod
    def dotted(path) -> str:
        return ".".join(str(p) for p in path) or "(top level)"

    def _locate(self, path) -> str:
        where = str(self.file) if self.file else "scenario"
        path = tuple(path)
        # Fall back to the nearest enclosing value that has a mark (e.g. a missing key).
        for end in range(len(path), -1, -1):
            mark = self.marks.get(path[:end])
            if mark:
                return f"{where}:{mark[0]}:{mark[1]}"
        return where

    def __str__(self) -> str:
        return "\n".join(
            f"{self._locate(path)}: {self.dotted(path)}: {message}"
            for path, message in self.problems
        )


class HarmBoundError(LowstakesError):
    """A recorded harm fell outside [0, B]: the low-stakes premise of the run is broken."""


class IncompleteRunError(LowstakesError):
    """A run directory is missing its summary or carries the incomplete marker."""


class RunDirectoryError(LowstakesError):
    """The run directory cannot be created (exit status 2)."""


class LateFailure(Exception):
    """Something failed after the simulation (drawing the figures, writing to a full disk):
    what could be written is kept and the command exits with status 1."""
