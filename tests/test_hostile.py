"""Robustness against hostile or pathological candidates.

Every case must end in a clear verdict (not EQUIVALENT, with a reason) within its time
budget, and leave nothing behind: no simulator process (iverilog, ivl, ivlpp, vvp) of
ours alive, no ``verilog_env_*`` work directory in the temp base, no file written
elsewhere.

The temp base is redirected to a per-test directory with ``VERILOG_ENV_TMPDIR``. The
worker pool forks lazily on the first check and its workers inherit the environment at
fork time, so every test shuts the pool down before setting the variable (and again at
the end); :func:`test_work_happens_in_the_redirected_temp_base` checks that this works.
Simulator processes are recognised by name (``/proc/*/comm``) *and* by working directory
(the sandbox runs each in a work directory under the base), so simulations of other test
runs on the same machine are never mistaken for ours.

Text pyslang cannot take at all (``nested_parentheses_100k``, ``lone_surrogate_in_str``,
...) gets a verdict on the candidate, never INTERNAL_ERROR.
"""

from __future__ import annotations

import dataclasses
import os
import random
import secrets
import signal
import threading
import time
from pathlib import Path

import pytest

import verilog_env
from verilog_env import Status, check_equivalence, check_many

SIMULATOR_NAMES = {"iverilog", "ivl", "ivlpp", "vvp",  # Icarus
                   "sh", "verilator_bin", "g++", "cc1plus", "as", "collect2", "ld", "sim"}  # Verilator's build and run
RUNNERS = {"icarus": {"vvp", "iverilog"}, "verilator": {"sim", "verilator_bin", "cc1plus"}}
TIMEOUT = 3.0  # seconds per compile and per simulation
BUDGET = 20.0  # seconds for a whole check, whatever the candidate does

GOLDEN = """
module top(input clk, input reset, input [7:0] a, input [7:0] b, output reg [7:0] q);
  always @(posedge clk)
    if (reset) q <= 8'd0;
    else q <= a + b;
endmodule
"""
HEADER = "module top(input clk, input reset, input [7:0] a, input [7:0] b, output reg [7:0] q);\n"
WIRE_HEADER = "module top(input clk, input reset, input [7:0] a, input [7:0] b, output [7:0] q);\n"
BODY = "  always @(posedge clk)\n    if (reset) q <= 8'd0;\n    else q <= a + b;\n"
WRONG_BODY = "  always @(posedge clk)\n    if (reset) q <= 8'd0;\n    else q <= a - b;\n"
CORRECT = HEADER + BODY + "endmodule\n"
WRONG = HEADER + WRONG_BODY + "endmodule\n"


def correct_with(extra: str) -> str:
    return HEADER + BODY + "  " + extra + "\nendmodule\n"


# ------------------------------------------------------------------ inspection


def _proc_field(pid: str, name: str) -> str:
    with open(f"/proc/{pid}/{name}") as f:
        return f.read()


def simulator_processes(base: Path) -> list[tuple[int, str, str]]:
    """Live iverilog/ivl/ivlpp/vvp processes whose working directory is under ``base``."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            comm = _proc_field(pid, "comm").strip()
            if comm not in SIMULATOR_NAMES:
                continue
            state = _proc_field(pid, "stat").rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if cwd.startswith(str(base)):
            found.append((int(pid), comm, cwd))
    return found


def parent_of(pid: int) -> int:
    for line in _proc_field(str(pid), "status").splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise LookupError(pid)


def rss_mib(pid: int) -> int:
    for line in _proc_field(str(pid), "status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    return 0


def our_children() -> list[int]:
    me = os.getpid()
    out = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if parent_of(int(pid)) == me:
                    out.append(int(pid))
            except (OSError, LookupError):
                pass
    return out


class Watcher:
    """Polls, in a thread, for work directories and simulator processes under ``base``."""

    def __init__(self, base: Path, interval: float = 0.02):
        self.base = base
        self.interval = interval
        self.dirs: set[str] = set()
        self.processes: set[str] = set()
        self.peak_worker_rss_mib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.dirs.update(p.name for p in self.base.iterdir())
            except OSError:
                pass
            self.processes.update(comm for _, comm, _ in simulator_processes(self.base))
            for pid in our_children():
                try:
                    self.peak_worker_rss_mib = max(self.peak_worker_rss_mib, rss_mib(pid))
                except OSError:
                    pass
            self._stop.wait(self.interval)

    def __enter__(self) -> "Watcher":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A private VERILOG_ENV_TMPDIR for one test, with a pool forked after setting it."""
    base = tmp_path / "verilog_env_base"
    base.mkdir()
    verilog_env.shutdown()
    monkeypatch.setenv("VERILOG_ENV_TMPDIR", str(base))
    yield base
    verilog_env.shutdown()
    # Never leave a stray simulator of ours running, whatever the test found.
    for pid, _, _ in simulator_processes(base):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def assert_clean(base: Path, forbidden: tuple[Path, ...] = ()) -> None:
    deadline = time.monotonic() + 2.0  # children of a killed group may need a moment
    while simulator_processes(base) and time.monotonic() < deadline:
        time.sleep(0.05)
    problems = []
    alive = simulator_processes(base)
    if alive:
        problems.append(f"simulator processes still running: {alive}")
    left = sorted(p.name for p in base.iterdir())
    if left:
        problems.append(f"left in the temp base: {left}")
    problems += [f"{path} was created" for path in forbidden if path.exists()]
    assert not problems, "; ".join(problems)


def timed_check(golden, candidate, **kw):
    kw.setdefault("cycles", 100)
    kw.setdefault("timeout", TIMEOUT)
    start = time.monotonic()
    verdict = check_equivalence(golden, candidate, **kw)
    return verdict, time.monotonic() - start


# -------------------------------------------------------------- the candidates

_rng = random.Random(20240601)
RANDOM_BYTES = bytes(_rng.randrange(256) for _ in range(4096))
RANDOM_BYTES_NO_NUL = bytes(b or 1 for b in RANDOM_BYTES)

ANY_FAILURE = {Status.COMPILE_ERROR, Status.REJECTED, Status.TIMEOUT, Status.MISMATCH}
PARSE_FAILURE = {Status.COMPILE_ERROR, Status.REJECTED}
RUN_FAILURE = {Status.TIMEOUT, Status.REJECTED}

HOSTILE_CASES = [
    # id, candidate, acceptable statuses, does it reach the simulator for seconds?
    ("empty", "", {Status.COMPILE_ERROR}, False),
    ("whitespace", " \n\t  \r\n ", {Status.COMPILE_ERROR}, False),
    ("prose", "Here is my answer: the module adds a and b on every rising clock edge and "
              "clears q on reset. I hope this helps! Let me know if you need anything else.",
     {Status.COMPILE_ERROR}, False),
    ("prose_then_code_fence", "Sure!\n```verilog\n" + CORRECT.replace("+", "-") + "```\n", PARSE_FAILURE, False),
    ("not_text_none", None, {Status.COMPILE_ERROR}, False),
    ("random_bytes", RANDOM_BYTES, PARSE_FAILURE, False),
    ("random_bytes_without_nul", RANDOM_BYTES_NO_NUL, PARSE_FAILURE, False),
    ("random_str_with_nul", RANDOM_BYTES.decode("latin-1"), PARSE_FAILURE, False),
    ("nul_inside_code", CORRECT.replace("endmodule", "\x00endmodule"), PARSE_FAILURE, False),
    ("three_megabytes", "// " + "x" * (3 << 20) + "\n" + WRONG, {Status.REJECTED}, False),
    ("nested_parentheses_100k", WIRE_HEADER + "  assign q = " + "(" * 100_000 + "a" + ")" * 100_000
     + ";\nendmodule\n", PARSE_FAILURE, False),
    ("nested_begin_end_20k", HEADER + "  always @(posedge clk) " + "begin " * 20_000 + "q <= a - b;"
     + " end" * 20_000 + "\nendmodule\n", PARSE_FAILURE, False),
    ("nested_parentheses_300", WIRE_HEADER + "  assign q = " + "(" * 300 + "a - b" + ")" * 300
     + ";\nendmodule\n", PARSE_FAILURE | {Status.MISMATCH}, False),
    ("zero_delay_always", correct_with("reg x;\n  always x = ~x;"), ANY_FAILURE, False),
    ("zero_delay_oscillator", correct_with("reg x;\n  initial x = 1'b0;\n  always @(x) x <= ~x;"),
     RUN_FAILURE, True),
    ("combinational_loop_on_output", WIRE_HEADER + "  assign q = ~q;\nendmodule\n",
     {Status.MISMATCH, Status.TIMEOUT, Status.REJECTED}, False),
    ("combinational_loop_internal", WIRE_HEADER + "  wire [7:0] l;\n  assign l = ~l ^ a;\n"
                                                  "  assign q = l + b;\nendmodule\n",
     {Status.MISMATCH, Status.TIMEOUT, Status.REJECTED}, False),
    ("infinite_loop_in_clocked_block", HEADER + "  always @(posedge clk) begin\n    while (1) ;\n  end\n"
                                              "endmodule\n", RUN_FAILURE, True),
    ("initial_forever_zero_delay", correct_with("reg x;\n  initial forever #0 x = ~x;"), RUN_FAILURE, True),
    ("huge_memory_written", correct_with("reg [31:0] mem [0:1<<28];\n  integer i;\n"
                                         "  initial for (i = 0; i < (1<<28); i = i + 1) mem[i] = i;"),
     ANY_FAILURE - {Status.MISMATCH}, False),
    ("generate_loop_1e8", correct_with("genvar i;\n  generate for (i = 0; i < 100000000; i = i + 1)"
                                       " begin : g wire w; end endgenerate"), ANY_FAILURE - {Status.MISMATCH}, False),
    ("recursive_self_instantiation", correct_with("top u(.clk(clk), .reset(reset), .a(a), .b(b), .q());"),
     PARSE_FAILURE, False),
    ("output_flood", correct_with('always @(posedge clk) repeat (1000) $display("' + "x" * 200 + '");'),
     {Status.REJECTED}, False),
    ("extremely_wide_output_port", "module top(input clk, input reset, input [7:0] a, input [7:0] b,"
                                   " output [1<<20:0] q);\n  assign q = a + b;\nendmodule\n",
     {Status.MISMATCH, Status.REJECTED}, False),
    ("extremely_wide_internal_reg", correct_with("reg [(1<<24)-1:0] big;\n"
                                                 "  always @(posedge clk) big <= {big, a} * {big, b};"),
     ANY_FAILURE - {Status.MISMATCH}, False),
    ("non_utf8_bytes_in_code", (HEADER + "  always @(posedge clk) q <= a \xff\xfe b;\nendmodule\n").encode("latin-1"),
     PARSE_FAILURE, False),
    ("non_utf8_bytes_in_comment_of_wrong_design", ("// caf\xe9 \xff\xfe\n" + WRONG).encode("latin-1"),
     {Status.MISMATCH}, False),
    ("unicode_identifiers", HEADER + "  wire [7:0] \u00e9t\u00e9 = a;\n" + BODY + "endmodule\n", PARSE_FAILURE, False),
    ("lone_surrogate_in_str", WRONG.replace("endmodule", "// \ud800\nendmodule"), PARSE_FAILURE | {Status.MISMATCH},
     False),
    ("ten_thousand_modules", "".join(f"module m{i};endmodule\n" for i in range(10_000)) + WRONG,
     {Status.MISMATCH, Status.REJECTED}, False),
]


VERILATOR_READS_DIFFERENTLY = {
    # Verilator has no zero-delay loop at time 0: it schedules `always x = ~x;` as logic
    # evaluated once and resumes `forever #0` once per time step, so these are the correct
    # design with an unused register (simulator="both" still refuses them: Icarus hangs).
    "zero_delay_always": {Status.EQUIVALENT},
    "initial_forever_zero_delay": {Status.EQUIVALENT},
    # An endless loop in a clocked block is cut by Verilator: the block never assigns q.
    "infinite_loop_in_clocked_block": {Status.MISMATCH},
}


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
@pytest.mark.parametrize(
    "name, candidate, acceptable, lingers",
    [pytest.param(i, c, s, linger, id=i) for i, c, s, linger in HOSTILE_CASES],
)
def test_hostile_candidate_gets_a_clear_verdict_in_time_and_leaves_nothing(sandbox, name, candidate, acceptable,
                                                                          lingers, simulator):
    if simulator == "verilator":
        acceptable = acceptable | VERILATOR_READS_DIFFERENTLY.get(name, set())
    with Watcher(sandbox) as watcher:
        verdict, seconds = timed_check(GOLDEN, candidate, simulator=simulator)
    assert verdict.status in acceptable, verdict.summary()[:500]
    assert verdict.reason.strip(), verdict
    assert seconds < BUDGET, f"took {seconds:.1f} s"
    if lingers:  # it ran for seconds: we must have seen it where we look for leftovers
        assert any(d.startswith("verilog_env_") for d in watcher.dirs), watcher.dirs
        assert watcher.processes & RUNNERS[simulator], watcher.processes
    assert_clean(sandbox)


def test_work_happens_in_the_redirected_temp_base(sandbox):
    """The pool is forked after VERILOG_ENV_TMPDIR is set, so workers use our base.

    Also a sanity check of the leftover checks themselves: while a simulation hangs we
    must see its directory and its vvp process under the base.
    """
    hang = HEADER + "  always @(posedge clk) while (1) ;\nendmodule\n"
    with Watcher(sandbox) as watcher:
        verdict, seconds = timed_check(GOLDEN, hang, timeout=1.5)
    assert verdict.status is Status.TIMEOUT, verdict.summary()
    assert any(d.startswith("verilog_env_") for d in watcher.dirs), watcher.dirs
    assert "vvp" in watcher.processes
    assert_clean(sandbox)
    # And a normal check afterwards is unaffected.
    verdict, _ = timed_check(GOLDEN, CORRECT)
    assert verdict.status is Status.EQUIVALENT, verdict.summary()
    assert_clean(sandbox)


def _pwned() -> Path:
    return Path("/tmp") / f"pwned_{secrets.token_hex(6)}"


WRITE_ATTEMPTS = [
    ("fopen", lambda p: correct_with(f'integer fd; initial begin fd = $fopen("{p}", "w"); $fclose(fd); end')),
    ("fopen_via_macro", lambda p: "`define O $fopen\n" + correct_with(f'integer fd; initial fd = `O("{p}", "w");')),
    ("writememh", lambda p: correct_with(f'reg [7:0] m [0:1]; initial $writememh("{p}", m);')),
    ("dumpfile", lambda p: correct_with(f'initial begin $dumpfile("{p}"); $dumpvars; end')),
    ("system", lambda p: correct_with(f'initial $system("touch {p}");')),
    ("relative_path_into_cwd", lambda p: correct_with(f'integer fd; initial fd = $fopen("{p.name}", "w");')),
    ("fopen_hidden_from_policy_by_ifdef_icarus",
     lambda p: correct_with(f'`ifdef __ICARUS__\n  integer fd; initial begin fd = $fopen("{p}", "w"); '
                            f'$fdisplay(fd, "owned"); $fclose(fd); end\n  `endif')),
]


@pytest.mark.parametrize("name, make", [pytest.param(i, m, id=i) for i, m in WRITE_ATTEMPTS])
def test_candidate_cannot_write_outside_its_sandbox(sandbox, name, make):
    target = _pwned()
    in_cwd = Path.cwd() / target.name
    try:
        verdict, seconds = timed_check(GOLDEN, make(target))
        created = [p for p in (target, in_cwd) if p.exists()]
    finally:
        for p in (target, in_cwd):
            if p.exists():
                p.unlink()
    assert not created, f"candidate created {created} (verdict {verdict.summary()})"
    # The simulator compiles only the macro-expanded tokens pyslang analysed, so code under
    # `ifdef __ICARUS__ never exists for it and what remains is the correct design.
    expected = Status.EQUIVALENT if name == "fopen_hidden_from_policy_by_ifdef_icarus" else Status.REJECTED
    assert verdict.status is expected, verdict.summary()
    assert seconds < BUDGET
    assert_clean(sandbox)


FANOUT = (
    "module m #(parameter N = 1) ();\n"
    "  generate if (N > 0) begin : r\n    m #(N-1) lo();\n    m #(N-1) hi();\n  end endgenerate\n"
    "endmodule\n"
)


def test_exponential_fanout_recursion_is_bounded_in_time_and_memory(sandbox):
    """m #(N) instantiates two m #(N-1), N = 40: 2**40 instances if elaborated naively.

    The worker is presumed stuck and killed by the pool guard; the caller must survive,
    get a verdict in time, and the pool must keep working. (Memory: see
    test_pool_workers_have_a_memory_limit.)
    """
    fanout = correct_with("m #(40) u();") + FANOUT
    with Watcher(sandbox, interval=0.1) as watcher:
        verdict, seconds = timed_check(GOLDEN, fanout)
    peak = f"peak worker RSS {watcher.peak_worker_rss_mib} MiB"
    assert verdict.status in {Status.TIMEOUT, Status.COMPILE_ERROR, Status.REJECTED}, verdict.summary()
    assert verdict.reason
    assert seconds < BUDGET, f"took {seconds:.1f} s, {peak}"
    # The pool replaced the killed worker: the next check works.
    after, _ = timed_check(GOLDEN, CORRECT)
    assert after.status is Status.EQUIVALENT, after.summary()
    assert_clean(sandbox)


def test_a_worker_out_of_memory_rejects_the_design_and_is_replaced(sandbox, monkeypatch):
    """pyslang turns the worker's address-space limit into MemoryError (std::bad_alloc).

    Which of the guard's timeout or the memory limit stops the fan-out design first
    depends on the host (CI's machine hit the limit), so a lower limit forces it here.
    The design is at fault (rejected, not an internal error), and the worker, whose heap
    is now near its limit, is replaced: every later check still works.
    """
    from verilog_env import CheckRequest, check_requests, shutdown
    from verilog_env.equiv.simcheck import SIMULATION

    shutdown()
    monkeypatch.setattr(SIMULATION, "pool", dataclasses.replace(SIMULATION.pool, memory_bytes=3 << 29))  # 1.5 GiB
    try:
        verdict, seconds = timed_check(GOLDEN, correct_with("m #(40) u();") + FANOUT)
        assert verdict.status is Status.REJECTED and "memory limit" in verdict.reason, verdict.summary()
        assert seconds < BUDGET
        workers = 2 * (os.cpu_count() or 1)
        goldens = [GOLDEN.replace("endmodule", f"  wire unused_{i};\nendmodule") for i in range(workers)]
        after = check_requests([CheckRequest(g, g) for g in goldens], cycles=100, timeout=TIMEOUT)
        assert all(v.status is Status.EQUIVALENT for v in after), [v.summary() for v in after]
    finally:
        shutdown()  # later tests get workers with the usual limit
    assert_clean(sandbox)


def _limit(pid: int, name: str) -> str:
    for line in _proc_field(str(pid), "limits").splitlines():
        if line.startswith(name):
            return line[len(name):].split()[0]
    raise LookupError(name)


def test_pool_workers_have_a_memory_limit(sandbox):
    """The analysis of an untrusted design runs in a pool worker with a memory limit.

    pyslang elaborating the fan-out design above grows by roughly 200 MB/s until the pool
    guard kills the worker (2 * timeout + 10 s), and the pool has one worker per core, so
    without an address-space (or data) limit of its own a batch of such answers could
    exhaust the host's memory before any guard fires.
    """
    verdict, _ = timed_check(GOLDEN, CORRECT)  # starts the pool
    assert verdict.status is Status.EQUIVALENT
    workers = our_children()
    assert workers, "no pool worker found"
    limits = {pid: (_limit(pid, "Max address space"), _limit(pid, "Max data size")) for pid in workers}
    unlimited = {pid: lim for pid, lim in limits.items() if lim == ("unlimited", "unlimited")}
    assert not unlimited, f"pool workers without a memory limit: {unlimited}"


def test_worker_killed_mid_simulation_leaves_nothing_behind(sandbox):
    """Simulates a worker crash or OOM kill while it waits for a hanging vvp.

    The caller gets a verdict and the pool recovers; the vvp (in its own session, so not
    in the worker's process group) must not outlive the worker, and the work directory
    must go even though the killed worker never runs its `finally`.
    """
    hang = HEADER + "  always @(posedge clk) while (1) ;\nendmodule\n"
    result: dict = {}

    def run() -> None:
        result["verdict"], result["seconds"] = timed_check(GOLDEN, hang, timeout=TIMEOUT)

    thread = threading.Thread(target=run)
    thread.start()
    worker = None
    deadline = time.monotonic() + 10
    while worker is None and time.monotonic() < deadline:
        for pid, comm, _ in simulator_processes(sandbox):
            if comm == "vvp":
                parent = parent_of(pid)
                if parent_of(parent) == os.getpid():  # a pool worker of ours
                    worker = parent
        time.sleep(0.02)
    assert worker is not None, "never saw the simulation start"
    os.kill(worker, signal.SIGKILL)
    thread.join(BUDGET + 10)
    assert not thread.is_alive(), "caller hung after its worker was killed"
    verdict = result["verdict"]
    assert verdict.status is not Status.EQUIVALENT
    assert verdict.status in {Status.INTERNAL_ERROR, Status.TIMEOUT, Status.REJECTED}, verdict.summary()
    assert verdict.reason
    assert result["seconds"] < BUDGET
    after, _ = timed_check(GOLDEN, CORRECT)
    assert after.status is Status.EQUIVALENT, after.summary()
    assert_clean(sandbox)


# ------------------------------------------------------------------- batches


def test_batch_mixing_hostile_and_correct_candidates(sandbox):
    """One bad apple in a shared simulation does not spoil the verdicts of the others."""
    variant = HEADER + "  wire [7:0] s = b + a;\n  always @(posedge clk) q <= reset ? 8'd0 : s;\nendmodule\n"
    batch = [
        (CORRECT, {Status.EQUIVALENT}),
        (HEADER + "  always @(posedge clk) while (1) ;\nendmodule\n", {Status.TIMEOUT}),
        (correct_with('integer fd; initial fd = $fopen("/tmp/x", "w");'), {Status.REJECTED}),
        (variant, {Status.EQUIVALENT}),
        (correct_with('always @(posedge clk) repeat (1000) $display("' + "y" * 200 + '");'), {Status.REJECTED}),
        (WRONG, {Status.MISMATCH}),
        ("Here is my answer, I hope it helps.", {Status.COMPILE_ERROR}),
        (WIRE_HEADER + "  assign q = verilog_env_tb.u_gold.q;\nendmodule\n", {Status.REJECTED}),
        (correct_with("reg x;\n  always x = ~x;"), ANY_FAILURE),
        (WIRE_HEADER + "  assign q = ~q;\nendmodule\n", {Status.MISMATCH, Status.TIMEOUT, Status.REJECTED}),
        (RANDOM_BYTES, PARSE_FAILURE),
        (correct_with('always @(posedge clk) $display("PASS 0 200");'), {Status.EQUIVALENT}),
    ]
    start = time.monotonic()
    verdicts = check_many(GOLDEN, [c for c, _ in batch], cycles=100, timeout=TIMEOUT, batch_size=8)
    seconds = time.monotonic() - start
    assert len(verdicts) == len(batch)
    problems = [
        (i, v.summary()[:200]) for i, ((_, ok), v) in enumerate(zip(batch, verdicts)) if v.status not in ok
    ]
    assert not problems, problems
    assert all(v.reason for v in verdicts)
    assert seconds < 2 * BUDGET, f"took {seconds:.1f} s"
    assert_clean(sandbox)


def test_verbose_batch_mate_cannot_hide_another_candidates_mismatch(sandbox):
    """A *correct* candidate that prints ~190 KB (far below the 4 MiB limit) shares a
    simulation with a wrong one. The sandbox keeps only the first and last 64 KiB of the
    log; the wrong candidate's MISMATCH record must not be lost with the middle.
    """
    line = '"' + "J" * 60 + '"'
    verbose = correct_with(f"initial repeat (1200) $display({line});\n"
                           f"  always @(posedge clk) repeat (5) $display({line});")
    verdicts = check_many(GOLDEN, [verbose, WRONG], cycles=300, timeout=TIMEOUT)
    assert verdicts[0].status is Status.EQUIVALENT, verdicts[0].summary()
    assert verdicts[1].status is Status.MISMATCH, verdicts[1].summary()
    assert_clean(sandbox)


def test_in_process_mode_also_survives_hostile_text(sandbox):
    """isolate=False runs in the caller: parser exceptions must still become verdicts."""
    for candidate in ("", RANDOM_BYTES, WIRE_HEADER + "  assign q = " + "(" * 5000 + "a" + ")" * 5000 + ";\nendmodule\n",
                      HEADER + "  always @(posedge clk) while (1) ;\nendmodule\n"):
        verdict, seconds = timed_check(GOLDEN, candidate, isolate=False, timeout=1.0)
        assert verdict.status is not Status.EQUIVALENT
        assert verdict.reason
        assert seconds < BUDGET
    assert_clean(sandbox)
