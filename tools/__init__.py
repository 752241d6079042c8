"""Development tools for rxspike (not part of the installed package)."""
