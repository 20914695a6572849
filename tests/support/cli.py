"""Running the `custody` command in tests: in this process through Click's CliRunner (the
default: no ~2 s of imports per call), or as a process of its own where one must really run
or die."""

from __future__ import annotations

import inspect
import logging
import os
import signal
import subprocess
import sys
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from click.testing import CliRunner

# Click 8.2 and later keep stderr apart by default; 8.1 has to be asked.
_SEPARATE_STDERR = (
    {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner).parameters else {}
)


def same_process(
    args: list[str], env: Mapping[str, str], cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    """`custody ARGS` run by Click's CliRunner in this process, in `env` and `cwd` as a
    subprocess would be, and put back as it found them: the environment, the working folder,
    logging (the roles configure it) and the signal handlers. The command closes what it
    opened itself (api.cli.Lazy); an exception it does not handle ends up on stderr with exit
    code 1, as Python's own would in a process."""
    from api.cli import main

    runner = CliRunner(**_SEPARATE_STDERR)
    environ = {**{k: None for k in os.environ if k not in env}, **env}
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in _loggers()]
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = runner.invoke(main, args, env=environ, prog_name="custody")
    finally:
        os.chdir(here)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        before = {
            lg: (level, hs, propagate, disabled) for lg, level, hs, propagate, disabled in saved
        }
        kept = {id(h) for _, _, hs, _, _ in saved for h in hs}
        for lg in _loggers():  # those made since are put back as new
            level, hs, propagate, disabled = before.get(lg, (logging.NOTSET, [], True, False))
            for handler in lg.handlers:
                if id(handler) not in kept:
                    handler.close()
            lg.handlers[:] = hs
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    _let_go(result.exception)
    return subprocess.CompletedProcess(["custody", *args], result.exit_code, result.stdout, stderr)


def _let_go(exc: BaseException | None, seen: set[int] | None = None) -> None:
    """Clear the frames of the exception CliRunner caught (its own frame among them, which
    holds that exception: a cycle that only the garbage collector would free), so that what
    the command's frames still hold goes now, as it would when a process ends, and not in a
    later test, where a file that a failed check left open is a ResourceWarning, an error."""
    seen = set() if seen is None else seen
    if exc is None or id(exc) in seen:
        return
    seen.add(id(exc))
    traceback.clear_frames(exc.__traceback__)
    _let_go(exc.__cause__, seen)
    _let_go(exc.__context__, seen)


def _loggers() -> list[logging.Logger]:
    known = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(lg for lg in known if isinstance(lg, logging.Logger))]


def _own_process(
    args: list[str], env: Mapping[str, str], cwd: Path | None
) -> subprocess.CompletedProcess[str]:
    """`custody ARGS` as a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "api", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )


class Custody:
    """Runs the `custody` command: `custody(*args, check=True, env=None, cwd=None)` returns a
    subprocess.CompletedProcess (`.returncode`, `.stdout`, `.stderr`); with `check`, a
    failure fails the test with what the command wrote. `env` replaces the fixture's
    environment, as it would subprocess.run's."""

    def __init__(
        self,
        env: Mapping[str, str],
        how: Callable[[list[str], Mapping[str, str], Path | None], Any],
        cwd: Path | None = None,
    ) -> None:
        self.env, self.how, self.cwd = env, how, cwd

    def in_own_process(self) -> Custody:
        """The same command, environment and folder, in a process of its own."""
        return Custody(self.env, _own_process, self.cwd)

    def __call__(
        self,
        *args: str,
        check: bool = True,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        result: subprocess.CompletedProcess[str] = self.how(
            list(args), self.env if env is None else env, cwd or self.cwd
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"custody {' '.join(args)} failed ({result.returncode}):\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result
