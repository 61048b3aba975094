"""Test doubles for V6's adapters: a fake TWS/IB Gateway speaking the real wire protocol."""
