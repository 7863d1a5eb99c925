"""Progress bars (tqdm) that stay out of the way.

A bar is drawn only when asked for (``verbose``) and when its stream (stderr) is a terminal: in a
log file or a pipe, tqdm's carriage returns would only garble the text. smash's iteration lines
remain the primary output of a verbose calibration; the bar sits below them and counts
iterations, and the lines are printed through tqdm so that the bar never cuts one in two.
"""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm


def progress_bar(total: int | None, desc: str, verbose: bool, **kwargs) -> tqdm:
    """A tqdm bar, disabled when ``verbose`` is False or when stderr is not a terminal."""
    return tqdm(total=total, desc=desc, disable=None if verbose else True, **kwargs)


class IterationProgress:
    """Iteration lines (printed when ``verbose``) and, on a terminal, a bar of ``total`` iterations."""

    def __init__(self, verbose: bool, total: int, desc: str = "</> Optimize"):
        self.verbose = verbose
        self.bar = progress_bar(total, desc, verbose, leave=False, unit="it")

    def report(self, line: str) -> None:
        """Print one of smash's lines (nothing when not verbose) without breaking the bar."""
        if not self.verbose:
            return
        if self.bar.disable:
            print(line, flush=True)
        else:
            self.bar.write(line)

    def callback(self, user: Callable[[dict], None] | None) -> Callable[[dict], None] | None:
        """The per-iteration hook for an optimization method: moves the bar, then calls ``user``."""
        if self.bar.disable:
            return user

        def on_iteration(info: dict) -> None:
            self.bar.update(max(0, int(info["n_iter"]) - self.bar.n))
            if user is not None:
                user(info)

        return on_iteration

    def restart(self) -> None:
        """Back to iteration 0, for another calibration cycle on the same bar."""
        self.bar.reset()

    def close(self) -> None:
        self.bar.close()
