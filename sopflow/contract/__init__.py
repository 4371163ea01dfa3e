"""The contract between compile time and run time: the plan IR (``plan``), the workflow's
messages (``messages``), the names of its updates, query, signal and activities (``names``),
its search attributes (``search``) and CEL evaluation (``expressions``).

The workflow sandbox loads these modules, so they import pydantic, the CEL package and
``temporalio.common`` only: no I/O, no Temporal client or worker. Change them only by adding
fields with defaults: running incidents and checked-in histories depend on them.
"""
