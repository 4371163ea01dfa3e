"""The ``sopflow`` command line."""
