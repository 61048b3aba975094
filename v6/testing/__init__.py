"""Test support shipped with V6.

- For plugin authors (and V6's own tests): :mod:`v6.testing.pytest_plugin`, the ``v6_*``
  fixtures pytest loads on its own wherever V6 is installed, built on
  :mod:`v6.testing.markets` (hand-made chains, the seeded simulated market),
  :mod:`v6.testing.positions` (positions and marks) and :mod:`v6.testing.sessions`
  (engines and whole simulated sessions on a store of their own).
- Test doubles for V6's adapters: a fake TWS/IB Gateway speaking the real wire protocol
  (:mod:`v6.testing.ib_gateway`), and the store audit the crash tests use.
"""
