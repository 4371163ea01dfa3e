"""Generate the parts of the docs that must never drift from the code."""

from __future__ import annotations

import sys
from pathlib import Path

from sopflow.language.diagnostics import codes_markdown

DIAGNOSTICS_HEADER = """\
# Diagnostic codes

Every problem `sopflow lint` (and every authoring command) reports has this form:

```
path:line:col: error[CODE]: message
path:line:col: warning[CODE]: message
```

Lines and columns are 1-based. With `--format json` each problem is an object with `path`,
`line`, `col`, `code`, `name`, `severity` and `message`. Codes are stable: a code keeps its
meaning in every release, and a new kind of problem gets a new code. Errors make `lint` exit
1; warnings do not, but the shipped library has none.

This table is generated from `sopflow/language/diagnostics.py`
(`python -m sopflow.language.docs_gen`); a test fails when it is out of date.

"""


def diagnostics_doc() -> str:
    return DIAGNOSTICS_HEADER + codes_markdown()


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/diagnostics.md")
    target.write_text(diagnostics_doc(), encoding="utf-8")
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
