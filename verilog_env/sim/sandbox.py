"""Run an untrusted process in a throw-away directory under hard limits.

Every simulator call goes through :func:`run`. The process gets its own session (so the
whole process group can be killed), CPU-time, address-space, file-size and core-dump
limits set by ``prlimit`` (thread-safe, unlike ``preexec_fn``), a wall-clock timeout, and
stdout/stderr redirected to a capped file. There is no parent-death signal (a
``setpriv --pdeathsig`` wrapper cost a millisecond per run, a few percent of a check):
when a checker worker is killed mid-run, the pool's owner sweeps its work directory and
kills what still runs there (:func:`sweep_stale_workdirs`); and since the simulator and
compiler never block (stdin is ``/dev/null``; file I/O is refused by the candidate
policy), a process orphaned with no one left to sweep stops at its CPU-time limit (the
wall-clock limit + 1 s). :class:`Workdir` removes the directory and
everything in it, whatever happened; directories of a process that was killed before it
could clean up are removed by :func:`sweep_stale_workdirs`.

``run(..., confine=True)`` (opt-in; the benchmark flows use it) also confines the
filesystem: the process runs under bubblewrap (``bwrap``, Debian's ``bubblewrap``) in a
private mount namespace where ``/`` and every mount below it are read-only (and
``nodev``: no device but ``/dev/null`` opens), and only its work directory is writable
(``TMPDIR`` points there: ``iverilog`` writes its temporary files to it). That needs
``bwrap`` and either root or unprivileged user namespaces; :func:`confinement_unavailable`
says why not, and then ``confine=True`` runs the process unconfined with a one-time
warning. Cost: 2-3 ms of wall time and about 2.5 ms of CPU a process (``bwrap`` building
the namespace; binding only ``/usr`` instead of ``/`` saves under 10 % of it), measured on
this 2-core machine under a load of 2-4.
"""

from __future__ import annotations

import dataclasses
import math
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import warnings
from pathlib import Path

_PRLIMIT = shutil.which("prlimit")
_BWRAP = shutil.which("bwrap")
_WORKDIR_PREFIX = "verilog_env_"


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed process."""

    wall_seconds: float = 10.0
    cpu_seconds: float | None = None  # default: wall_seconds + 1
    memory_bytes: int = 1 << 30
    output_bytes: int = 4 << 20
    """Largest file the process may write, its log included; beyond it the OS kills it."""


@dataclasses.dataclass
class RunResult:
    returncode: int | None
    timed_out: bool
    output: str
    output_bytes: int
    seconds: float

    @property
    def signal_name(self) -> str | None:
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe_failure(self, limits: Limits) -> str:
        """Why the process did not finish normally, in words."""
        if self.timed_out:
            return f"exceeded the {limits.wall_seconds:g} s time limit"
        sig = self.signal_name
        if sig == "SIGXCPU":
            return "exceeded the CPU-time limit"
        if sig == "SIGXFSZ" or self.output_bytes >= limits.output_bytes:
            return f"printed more than the {limits.output_bytes >> 20} MiB output limit"
        if sig in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGKILL") or "memory" in self.output.lower():
            return f"crashed ({sig or 'exit ' + str(self.returncode)}), most likely out of its {limits.memory_bytes >> 20} MiB memory limit"
        return f"exited with {sig or 'status ' + str(self.returncode)}"


def _base_dir() -> str | None:
    base = os.environ.get("VERILOG_ENV_TMPDIR")
    if base:
        return base
    return "/dev/shm" if os.access("/dev/shm", os.W_OK) else None


class Workdir:
    """A private temporary directory, deleted with all its contents on exit.

    Its name carries the creating process's id, so :func:`sweep_stale_workdirs` can
    tell which directories were orphaned by a killed process.
    """

    def __init__(self) -> None:
        prefix = f"{_WORKDIR_PREFIX}{os.getpid()}_"
        self.path = Path(tempfile.mkdtemp(prefix=prefix, dir=_base_dir()))

    def __enter__(self) -> Path:
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def sweep_stale_workdirs() -> int:
    """Remove work directories whose creating process no longer exists; return how many.

    A simulator still running in one (its creator was killed mid-run) is killed first,
    with its whole process group.
    """
    base = Path(_base_dir() or tempfile.gettempdir())
    stale = []
    for path in base.glob(f"{_WORKDIR_PREFIX}*_*"):
        pid = path.name[len(_WORKDIR_PREFIX) :].split("_", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            stale.append(path)
    if stale:
        _kill_processes_in(stale)
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def _kill_processes_in(directories: list[Path]) -> None:
    """SIGKILL the process group of every process whose working directory is one of these."""
    wanted = {str(d) for d in directories}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue
        if cwd.removesuffix(" (deleted)") in wanted:
            try:
                _kill_group(os.getpgid(int(entry.name)))
            except ProcessLookupError:
                pass


def _limited(argv: list[str], limits: Limits) -> list[str]:
    if _PRLIMIT is None:  # pragma: no cover - util-linux is essential on Debian
        raise RuntimeError("prlimit (util-linux) is required to sandbox the simulator")
    cpu = limits.cpu_seconds if limits.cpu_seconds is not None else limits.wall_seconds + 1
    return [
        _PRLIMIT,
        f"--cpu={max(1, math.ceil(cpu))}",
        f"--as={limits.memory_bytes}",
        f"--fsize={limits.output_bytes}",
        "--core=0",
        "--",
        *argv,
    ]


def _confined(argv: list[str], cwd: Path) -> list[str]:
    """``argv`` in a mount namespace where only ``cwd`` is writable (see the module docstring)."""
    where = str(Path(cwd).resolve())
    return [_BWRAP, "--ro-bind", "/", "/", "--dev-bind", "/dev/null", "/dev/null", "--bind", where, where,
            "--chdir", where, "--", *argv]


_confinement_lock = threading.Lock()
_confinement: list[str | None] = []  # [why confinement is unavailable (None: it works)], once probed


def confinement_unavailable() -> str | None:
    """Why ``run(..., confine=True)`` cannot confine processes here; None when it can.

    Probed once per process (a ``bwrap`` run of ``true``) and warned about once.
    """
    with _confinement_lock:
        if not _confinement:
            why = None
            if _BWRAP is None:
                why = "bwrap is not installed (Debian: apt-get install bubblewrap)"
            else:
                with Workdir() as probe:
                    try:
                        done = subprocess.run(_confined(["true"], probe), cwd=probe, stdin=subprocess.DEVNULL,
                                              capture_output=True, timeout=30, check=False)
                        if done.returncode != 0:
                            why = ("bwrap cannot set up a mount namespace here (needs root or unprivileged user "
                                   f"namespaces): {done.stderr.decode(errors='replace').strip()[:200]}")
                    except (OSError, subprocess.TimeoutExpired) as error:
                        why = f"bwrap does not run: {error}"
            if why is not None:
                warnings.warn(f"simulations run without filesystem confinement, under the candidate policy alone: "
                              f"{why}", RuntimeWarning, stacklevel=3)
            _confinement.append(why)
        return _confinement[0]


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _wait(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``proc`` to exit; True if it did.

    ``Popen.wait(timeout)`` polls with growing sleeps, which adds milliseconds to every
    short simulator run; a pidfd wakes us the moment the process exits.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=seconds)
            return True
        except subprocess.TimeoutExpired:
            return False
    try:
        ready, _, _ = select.select([pidfd], [], [], seconds)
        return bool(ready)
    finally:
        os.close(pidfd)


def run(
    argv: list[str], cwd: Path, limits: Limits, log_name: str = "log.txt", keep: int = 64 << 10, confine: bool = False
) -> RunResult:
    """Run ``argv`` in ``cwd`` under ``limits``; return its (head-and-tail) output.

    Whatever happens, the process group is killed before returning, so no child
    survives the call. ``confine``: only ``cwd`` is writable (see the module docstring;
    where that is unavailable, the process runs unconfined).
    """
    return start(argv, cwd, limits, log_name, confine).wait(keep)


class Process:
    """A sandboxed process started by :func:`start`; :meth:`wait` (or :meth:`kill`) ends it.

    Lets a caller run several sandboxed processes at once from one thread (the checker
    records a golden while candidates compile): every process is still waited for,
    and its group killed, by whoever started it.
    """

    def __init__(self, argv: list[str], cwd: Path, limits: Limits, log_name: str, confine: bool,
                 env: dict[str, str] | None = None) -> None:
        self.limits = limits
        self.log_path = cwd / log_name
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", **(env or {})}
        command = _limited(argv, limits)
        self.confined = confine and confinement_unavailable() is None
        if self.confined:
            command = _confined(command, cwd)
            env["TMPDIR"] = str(Path(cwd).resolve())
        self.started = time.perf_counter()
        self._result: RunResult | None = None
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
            )

    def wait(self, keep: int = 64 << 10) -> RunResult:
        """Wait for the process (at most its wall-clock limit from its start), kill its
        group, and return its (head-and-tail) output. Idempotent."""
        if self._result is not None:
            return self._result
        proc = self.proc
        try:
            left = self.limits.wall_seconds - (time.perf_counter() - self.started)
            timed_out = not _wait(proc, max(0.0, left))
        finally:
            _kill_group(proc.pid)
            proc.wait()
        seconds = time.perf_counter() - self.started
        returncode = proc.returncode
        if self.confined and returncode > 128:  # bwrap reports a child killed by signal N as exit status 128 + N
            returncode = -(returncode - 128)
        size = self.log_path.stat().st_size
        with open(self.log_path, "rb") as log:
            if size <= 2 * keep:
                data = log.read()
            else:
                head = log.read(keep)
                log.seek(size - keep)
                data = head + b"\n... [output truncated] ...\n" + log.read()
        self._result = RunResult(
            returncode=None if timed_out else returncode,
            timed_out=timed_out,
            output=data.decode("utf-8", "replace"),
            output_bytes=size,
            seconds=seconds,
        )
        return self._result

    def kill(self) -> None:
        """End the process group now (a no-op once waited for)."""
        if self._result is None:
            _kill_group(self.proc.pid)
            self.proc.wait()


def start(argv: list[str], cwd: Path, limits: Limits, log_name: str = "log.txt", confine: bool = False,
          env: dict[str, str] | None = None) -> Process:
    """Start ``argv`` in ``cwd`` under ``limits`` (as :func:`run` does) without waiting.
    The process's environment is ``PATH``, ``LC_ALL=C`` and ``env``."""
    return Process(argv, cwd, limits, log_name, confine, env)
