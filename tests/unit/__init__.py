"""Unit tests of the core, one module per core module; in-process, no network (the fake wiki and clock)."""
