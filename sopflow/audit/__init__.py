"""Audit: prove from the Temporal history alone what happened in an incident.

- ``history_io``: reading histories (files, envelopes, the server), all runs of an incident;
- ``envelope``, ``export``, ``verify``: the export envelope, its digest, and its checks;
- ``payloads``: decoding the payloads recorded in a history with sopflow's data converter;
- ``signatures``: who signed each recorded action, checked offline against public keys;
- ``replay``: replaying histories with today's interpreter (the pre-deploy check);
- ``report_model``, ``report_events``, ``report``, ``report_render``: the audit report's
  JSON shape, reading the events, building the report, and its Markdown form.

See docs/audit.md.
"""
