"""``sopflow dev`` when one of its processes dies: it says which process ended and how, stops
the others and exits with status 1. A SIGTERM (as from a supervisor) stops it quietly, with
status 0.

Each stack test runs ``sopflow dev`` as a subprocess on free ports, with its state in a
temporary directory, as tests/test_e2e_dev_server.py does.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
from typer.testing import CliRunner

from sopflow.cli import stack
from sopflow.cli.app import app
from sopflow.client.codec_server import CodecHTTPServer
from tests.test_e2e_dev_server import spawn_dev, stop, wait_for_output

pytestmark = pytest.mark.e2e


def _child_pids(parent: int) -> list[int]:
    """The processes whose parent is ``parent``, read from /proc/<pid>/stat (this kernel may
    lack /proc/<pid>/task/<tid>/children)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # a process that ended while we looked
            # The command name in parentheses may hold spaces: the fields follow its ")".
            fields = stat.read_text(encoding="utf-8").rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                found.append(int(stat.parent.name))
    return found


def _command_line(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return raw.decode(errors="replace").split("\0")


def _gone(pid: int) -> bool:
    """Ended and reaped: no /proc entry (a zombie still has one)."""
    return not Path(f"/proc/{pid}").exists()


@dataclass
class Stack:
    proc: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def errors(self) -> list[str]:
        """What ``sopflow dev`` itself reported (the server's own log lines say "error" too)."""
        return [line for line in self.output().splitlines() if line.startswith("error: ")]

    def wait_for_output(self, text: str) -> None:
        wait_for_output(self.log, self.proc, text)

    def child(self, *args: str) -> int:
        """The pid of the stack's child whose command line holds ``args`` in a row."""
        for pid in _child_pids(self.proc.pid):
            with contextlib.suppress(OSError):
                argv = _command_line(pid)
                if any(argv[i : i + len(args)] == list(args) for i in range(len(argv))):
                    return pid
        raise AssertionError(f"no child runs {args}: {_child_pids(self.proc.pid)}")


@pytest.fixture
def dev_stack(tmp_path: Path) -> Iterator[Stack]:
    """``sopflow dev`` on free ports, up to its worker running."""
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        proc, _port = spawn_dev(tmp_path, out)
        try:
            running = Stack(proc, log)
            running.wait_for_output("Worker running.")
            yield running
        finally:
            stop(proc)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # anything of ours still in the group


@pytest.mark.parametrize(
    ("name", "args"),
    [
        ("temporal server", ("server", "start-dev")),
        ("worker", ("-m", "worker")),
        ("api", ("serve", "--port")),
    ],
)
def test_a_killed_child_stops_the_stack_saying_which_and_how(
    dev_stack: Stack, name: str, args: tuple[str, ...]
) -> None:
    victim = dev_stack.child(*args)
    others = [pid for pid in _child_pids(dev_stack.proc.pid) if pid != victim]
    assert others, "the stack runs the temporal server and the worker"
    os.kill(victim, signal.SIGKILL)
    assert dev_stack.proc.wait(timeout=60) == 1
    output = dev_stack.output()
    assert dev_stack.errors() == [f"error: {name} exited: killed by SIGKILL"], output
    assert "start the stack again (make run, or sopflow dev)" in output, output
    assert "Traceback" not in output, output
    assert all(_gone(pid) for pid in others), output  # stopped, and waited for


def test_sigterm_stops_the_stack_quietly(dev_stack: Stack) -> None:
    children = _child_pids(dev_stack.proc.pid)
    dev_stack.proc.send_signal(signal.SIGTERM)
    assert dev_stack.proc.wait(timeout=60) == 0
    output = dev_stack.output()
    assert dev_stack.errors() == [], output
    assert "Traceback" not in output, output
    assert all(_gone(pid) for pid in children), output


@pytest.mark.parametrize(
    ("name", "returncode", "said"),
    [
        ("temporal server", -signal.SIGKILL, "temporal server exited: killed by SIGKILL"),
        ("worker", -signal.SIGTERM, "worker exited: killed by SIGTERM"),
        ("worker", 3, "worker exited with code 3"),
        ("worker", 0, "worker exited with code 0"),
        ("worker", -40, "worker exited: killed by signal 40"),
    ],
)
def test_describe_exit(name: str, returncode: int, said: str) -> None:
    assert stack.describe_exit(name, returncode) == said


class _FailingServer:
    """Stands in for the codec endpoint: its serve loop raises."""

    def serve_forever(self) -> None:
        raise OSError("the socket went away")

    def shutdown(self) -> None:
        pass

    def server_close(self) -> None:
        pass


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_codec_server_that_dies_says_why() -> None:
    served = stack._CodecServer(cast(CodecHTTPServer, _FailingServer()))
    served.thread.join(timeout=10)
    assert served.ended() == "codec server stopped: OSError: the socket went away"
    served.stop()
    served.wait()


def test_setup_without_a_server_is_one_line_not_a_traceback() -> None:
    """`sopflow setup` against a port nobody listens on: exit 1 and why, nothing more."""
    result = CliRunner().invoke(app, ["setup", "--address", "127.0.0.1:1"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot register search attributes: ")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
