"""Talking to Temporal. Only this package holds a Temporal ``Client``.

- ``incidents``: the incident service every interface calls (start, act, read, list, queues),
  with its ``actions``, ``views`` and ``errors``;
- ``session``: one connected session from the environment, for a command or a request;
- ``connection``: connection settings (address, namespace, TLS, API key) and namespace setup;
- ``codec``, ``codec_server``: the payload codec and its endpoint for the Temporal UI;
- ``testing``: the servers and workers tests, rehearsals and benchmarks stand up.
"""
