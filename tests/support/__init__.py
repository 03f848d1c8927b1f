"""Helpers shared by test modules: test modules never import each other, only these, the plugins and the clients."""
