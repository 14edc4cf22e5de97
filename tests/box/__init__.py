"""The box tier: the product in its real mode against a dom0 laid out in a mount namespace.

A package so that its conftest does not take the place of ``tests/conftest.py``
(both would otherwise be imported as the module ``conftest``).
"""
