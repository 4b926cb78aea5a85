"""The ``offers`` command line: the one entry point over every layer (see :mod:`offers.cli`).

This package sits on top of the layers (features -> models -> training ->
the artifact contract -> serving) and gathers their commands; nothing
imports it.

Imports: every layer; nothing imports it.
"""
