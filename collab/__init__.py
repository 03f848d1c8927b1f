"""MediaWiki Collab: real-time collaborative editing for MediaWiki wikis."""

__version__ = "0.1.0"
