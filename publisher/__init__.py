"""publisher: publish Instagram posts from a folder of YAML drafts, on a schedule."""

__version__ = "0.1.0"
