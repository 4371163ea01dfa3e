"""Rehearsals: run scenarios against an SOP on the real time-skipping Temporal test server,
with the real interpreter and recording fakes in place of the side effects."""
