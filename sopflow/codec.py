"""Payload encryption (filled in by the payload-codec work).

``data_converter_from_env()`` is the one converter every sopflow client and worker uses.
"""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter


def data_converter_from_env() -> DataConverter:
    """sopflow's data converter: pydantic payloads, encrypted when a key is configured."""
    return pydantic_data_converter
