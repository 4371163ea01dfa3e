"""The SOP language: YAML read with source positions, document models, validation, regional
variants, the library and roster, the lock file, and the checks lint runs.

Nothing here imports Temporal or the interpreter: a program lead's laptop lints a library
without a server. The only I/O is reading SOP files (and writing the lock file on publish).
"""
