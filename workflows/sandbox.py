"""How workers run the interpreter in Temporal's workflow sandbox.

By default the sandbox re-imports a workflow's module for every run (and every replay of an
evicted run): ``workflows/incident.py`` is compiled (from source, where no bytecode is
written), executed, and its class re-decorated and inspected, about a quarter of the worker's
CPU per incident. The interpreter is one fixed, reviewed module with no mutable global state,
so ``worker.py`` passes the ``workflows`` package through: every run shares the host's import.

What this gives up: the sandbox restricts calls by proxying the modules a workflow imports
inside it, and a passed-through module keeps the host's, so in the worker a forbidden call in
the interpreter (``datetime.now()``, ``random``, I/O) would no longer be stopped there. Each
run still has its own ``IncidentWorkflow`` instance, and the modules the interpreter imports
were already passed through (``imports_passed_through``). The tests, the rehearsals and
``sopflow audit replay`` keep the default sandbox, where such a call fails: the checked-in
histories are replayed that way in ``make test``, so a forbidden call cannot land unnoticed.
"""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

# The interpreter's package: incident.py (the workflow), runner.py, conductor.py, form_check.py.
PASSED_THROUGH = ("workflows",)


def workflow_runner() -> SandboxedWorkflowRunner:
    """The default sandbox, with the interpreter's package imported once per process."""
    restrictions = SandboxRestrictions.default.with_passthrough_modules(*PASSED_THROUGH)
    return SandboxedWorkflowRunner(restrictions=restrictions)
