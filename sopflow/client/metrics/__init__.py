"""Programme metrics (``sopflow metrics``): per SOP, version, region, severity and step,
computed from Temporal alone.

- ``facts``: one incident's state reduced to what metrics need (pure, no user data);
- ``compute``: the metrics of many incidents' facts (pure);
- ``rows``: the metrics as flat rows, for CSV and tables (pure);
- ``window``: ``--since``/``--until`` and the visibility query of a window (pure);
- ``read``: listing a window's runs and reading their states from Temporal;
- ``cache``: closed runs' facts on disk, by run id.

See docs/metrics.md.
"""
