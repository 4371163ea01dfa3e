"""``sopflow lsp``: a language server for SOP libraries (docs/editors.md).

It lints as you type with the very checks of ``sopflow lint``, and adds hover docs, go to
definition, completion and a Mermaid preview. Everything it knows comes from the language and
compile layers; it never talks to Temporal.
"""
