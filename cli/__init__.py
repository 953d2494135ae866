"""The ``vodflow`` command line: parse arguments, call a stage or a flow, print one line per error.

Modules: ``main`` (the parser, logging, the error boundary and ``main``, the entry point; it imports a
command group only when one of its commands runs), ``media`` (probe, qa, encode, ladder, quality, samples,
tools), ``delivery`` (package, validate, origin, publish, rollback, unpublish, edge, sign, play), ``flows``
(ingest, status, serve-flows), ``demo`` (the end-to-end demo), ``console`` (Prefect kept quiet and the
stage board, for ``flows`` and ``demo``). Text tables come from ``vodflow.tables``.
"""
