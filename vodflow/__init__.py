"""What every room shares, importing no stage: the house's foundation.

Modules: ``errors`` (the whole exception tree, drawn in its docstring), ``process`` (``run`` a child to
completion, ``spawn`` a long-lived one, ``stop`` it), ``tools`` (the bundled binaries, found through their
packages), ``ids`` (the title and version ID alphabet), ``state`` (the ``.vodflow/`` folders and their
environment variables), ``progress`` (progress lines and bars), ``records`` (the ``Record`` base),
``tables`` (text and markdown tables).
"""
