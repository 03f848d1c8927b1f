"""In-process unit tests: ``test_<module>.py`` tests ``collab/<module>.py`` (``test_sio_transport.py`` and
``test_cluster_codec.py``: the adapters' pure parts). No network and no real wiki: the fake wiki and clock,
the recording wire and the node builder of ``tests/support``. End-to-end suites are in ``tests/``."""
