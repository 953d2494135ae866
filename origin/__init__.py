"""Publishing to S3, the caching edge, the ABR player simulator.

Public names (origin side):

- ``origin.seaweed``: ``Seaweed`` (the embedded SeaweedFS: ``up``/``down``/``status``/``origin``),
  ``OriginState``, ``OriginStatus``, ``Credentials``.
- ``origin.config``: ``Origin`` (endpoint + credentials + location, ``client()``), ``S3Location``.
- ``origin.errors``: ``OriginError`` and its family.

Submodules are imported where used (``from origin.seaweed import Seaweed``), so importing ``origin``
itself costs nothing.
"""
