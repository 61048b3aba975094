"""V6 built-in plugins, installed as the ``v6_plugins`` package."""
