"""Domain values: immutable attrs records with no I/O.

Everything inside the core is already a valid value; parsing happens at the edges
(YAML, Delta rows, IB messages) through cattrs.
"""
