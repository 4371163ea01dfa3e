"""Talking to Temporal: connection settings and setup (``connection``), the payload codec
(``codec``, ``codec_server``) and the incident service every interface calls
(``incidents``). Only this package holds a Temporal ``Client``."""
