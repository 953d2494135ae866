"""The ``vodflow`` command line: parse arguments, call a stage or a flow, print one line per error.

Modules: ``main`` (the parser and ``main``, the entry point), ``media`` (probe, qa, encode, ladder, quality,
samples, tools), ``delivery`` (package, validate, origin, publish, rollback, unpublish, edge, sign, play),
``flows`` (ingest, status, serve-flows), ``demo`` (the end-to-end demo), ``tables`` (text tables).
"""
