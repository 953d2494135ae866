"""The S3 side: where titles are published, the embedded SeaweedFS, the bucket layout, the object store,
and publishing itself.

Modules and their public names:

- ``origin.config``: ``Origin`` (endpoint + credentials + location; ``resolve``, ``embedded``,
  ``client()``), ``S3Location``.
- ``origin.embedded``: the embedded origin's state folder read without starting anything:
  ``OriginState``, ``Credentials``, ``running``, ``alive``.
- ``origin.seaweed``: ``Seaweed`` (the embedded SeaweedFS: ``up``/``down``/``status``/``origin``),
  ``OriginStatus``, ``DEFAULT_BUCKET``.
- ``origin.layout``: the bucket layout (``TITLES``, ``POINTER``, ``pointer()``, ``version_root()``,
  ``publication()``, ``title_root()``) and the ``Pointer`` record.
- ``origin.store``: ``Store``, every S3 call of one origin (get/put/head/list/upload/download/delete/
  presign), failures as ``origin.errors``.
- ``origin.publish``: ``publish``; the pieces it is made of: ``origin.pointers`` (``current``,
  ``rollback``, ``unpublish``), ``origin.records`` (``Publication``, ``PublishedObject``),
  ``origin.upload`` (``DEFAULT_TRANSFER``, sending and verifying), ``origin.files`` (the package as files
  to send, the Cache-Control values ``IMMUTABLE``, ``MANIFEST``, ``POINTER``), ``origin.keycheck`` (refuses
  packages that hold key material).
- ``origin.errors``: ``OriginError`` and its family.

Submodules are imported where used (``from origin.seaweed import Seaweed``), so importing ``origin``
itself costs nothing.
"""
