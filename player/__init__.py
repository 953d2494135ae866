"""The ABR player simulator: a client that plays a title under a network trace in virtual time.

Modules: ``trace`` (trace files and synthetic traces), ``network`` (trace + latency -> virtual time),
``movie`` (what a player knows of a title: bitrates, segment sizes, per-segment VMAF), ``records``
(the session records: ``Progress``, ``Download``, ``Stall``, ``Player``, ``SessionResult``), ``session``
(the playback model, ``Session``), ``estimate`` (dual-EWMA throughput), ``abr`` (the algorithms behind one
interface; ``abr.make(name)``), ``qoe`` (QoE records), ``manifest`` (HLS/DASH/package readers),
``client`` (the HTTP client for the edge), ``play`` (sessions under traces, from a movie or the edge,
bytes really fetched), ``plot`` (PNG timeline), ``errors``.

Live (real time, on a live HLS channel): ``live`` (``LiveSession``, ``play_live``: live-edge start,
LL-HLS blocking reloads and parts or plain HLS polling, the ABR and the network model of the VOD session),
``live_playlist`` (the playlists as a live player reads them), ``live_playback`` (the playhead and
``CatchUp``, dash.js's playback-rate catch-up), ``live_records`` (``LiveSample``, ``LiveReport``).

Units inside: seconds, bits, bit/s. Submodules are imported where used.
"""
