"""The semantic checks lint runs on an effective SOP, one small function per rule: steps and
roles (``steps``), control flow (``flow``), CEL expressions (``expressions``) and what spans
documents (``library``: rehearsals, inputs, forms)."""
