"""A text progress bar for long-running commands."""

from typing import TextIO


class ProgressBar:
    """Draws ``[#####     ]  50%  500/1000 label`` on one line of ``stream``, redrawn in place.

    Meant for a terminal: callers decide whether to show it (see ``wants_progress``). ``update``
    redraws only when the shown percentage moves, so calling it often costs little.
    """

    def __init__(self, *, total: int, stream: TextIO, label: str = "", width: int = 30) -> None:
        self.total = max(total, 0)
        self.stream = stream
        self.label = label
        self.width = width
        self._shown_percent = -1

    def update(self, done: int) -> None:
        """Show ``done`` of ``total`` units as finished."""
        done = min(max(done, 0), self.total)
        percent = 100 if self.total == 0 else done * 100 // self.total
        if percent == self._shown_percent:
            return
        self._shown_percent = percent
        filled = self.width * percent // 100
        bar = "#" * filled + " " * (self.width - filled)
        self.stream.write(f"\r[{bar}] {percent:3d}%  {done}/{self.total} {self.label}".rstrip())
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line, so that later output starts on a fresh one."""
        if self._shown_percent >= 0:
            self.stream.write("\n")
            self.stream.flush()


def wants_progress(stream: object, *, quiet: bool = False) -> bool:
    """Whether to draw a progress bar on ``stream``: only on a terminal, and not when asked to be quiet."""
    isatty = getattr(stream, "isatty", None)
    return not quiet and callable(isatty) and bool(isatty())
