"""Progress bars: none when quiet or off a terminal; on a terminal, smash's lines stay whole."""

from __future__ import annotations

import io
import sys

import hydrograd as smash
from hydrograd._progress import IterationProgress, progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_quiet_prints_nothing_and_adds_no_hook(capsys):
    progress = IterationProgress(False, 5)
    progress.report("    At iterate     1")
    assert progress.callback(None) is None
    progress.close()
    assert capsys.readouterr() == ("", "")


def test_off_a_terminal_lines_are_plain_prints(capsys):
    progress = IterationProgress(True, 5)
    user = []
    assert progress.callback(user.append) == user.append
    progress.report("</> Optimize")
    progress.close()
    out, err = capsys.readouterr()
    assert out == "</> Optimize\n" and err == ""


def test_on_a_terminal_the_bar_counts_iterations_below_whole_lines(capsys, monkeypatch):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    progress = IterationProgress(True, 4)
    seen = []
    hook = progress.callback(seen.append)
    lines = [f"    At iterate {i:>5}    nfg = {i + 1:>5}    J = 1.00000e-01" for i in range(3)]
    for i, line in enumerate(lines):
        progress.report(line)
        hook({"n_iter": i + 1})
    assert progress.bar.n == 3 and [info["n_iter"] for info in seen] == [1, 2, 3]
    progress.close()
    out = capsys.readouterr().out
    assert out.splitlines() == lines
    assert "</> Optimize:" in terminal.getvalue() and "/4 [" in terminal.getvalue()


def test_reading_bars_stay_off_a_non_terminal(synthetic_inputs, capsys):
    setup, mesh = synthetic_inputs
    smash.Model({**setup, "end_time": "2020-01-20"}, mesh, verbose=True)
    assert "Reading" not in capsys.readouterr().err


def test_progress_bar_is_disabled_when_not_verbose(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress_bar(3, "x", False).disable
    assert not progress_bar(3, "x", True).disable
