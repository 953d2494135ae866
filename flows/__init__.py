"""The Prefect flows and tasks of an ingest, and what they keep: settings, records, result storage, reports.

Modules (nothing is imported here: importing ``flows`` costs nothing until a module is asked for):

- ``ingest``: the flows ``ingest_title`` and ``ingest_batch``; ``IngestResult``, ``expand_sources``, ``observe``.
- ``tasks``: one Prefect task per stage (``fetch_task``, ``probe_task``, ``qa_task``, ``ladder_task``,
  ``encode_task``, ``quality_task``, ``package_task``, ``sidecar_task``, ``validate_task``,
  ``publish_task``, ``warm_task``) and ``merge`` (every codec's ``EncodeResult`` as one).
- ``distributed``: ``encode_distributed`` (one title's chunks on a Dask cluster, through the origin) and
  ``task_runner``.
- ``settings``: ``Settings`` (what an ingest is asked to do), ``Workspace`` (where a title's work lives),
  ``Status`` (what ``vodflow status`` reads), ``OUTPUT_FIELDS``.
- ``results``: ``OriginResultStorage``, Prefect result records kept on the origin (for remote workers).
- ``report``: the run's markdown artifacts (``qa_artifact``, ``ladder_artifact``, ``publication_artifact``,
  ``batch_artifact``, ``qoe_artifact``; tables from ``vodflow.tables``).
- ``versions``: ``versions_digest``, the binary versions every cached task's key includes.
- ``live``: live channels (``ChannelConfig``, ``ChannelStatus``, ``start``/``stop``/``status``) and the
  ``ChannelSupervisor`` that runs one (``python -m flows.live``): not a Prefect flow, a long-running
  process that wires the live encoder, the live state and the edge's live routes together.
"""
