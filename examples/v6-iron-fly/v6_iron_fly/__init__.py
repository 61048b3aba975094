"""V6 iron butterfly plugin (an example of a third-party V6 plugin package)."""
