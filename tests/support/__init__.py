"""Test support: fakes and helpers shared by test modules (test modules never import each other)."""
