"""The SecureDrop Workstation preflight updater engine.

This package never imports Qt: the launcher's window and the notifier's
dialog listen to the engine's events; the engine knows nothing about them.
"""
