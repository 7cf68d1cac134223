"""snnctl's first-party plugins, installed as the package ``snnctl_plugins``.

Each module registers its components through the public hooks of :mod:`snnctl.hookspecs` and is
declared in the entry-point group ``snnctl``, exactly like a third-party plugin.
"""
