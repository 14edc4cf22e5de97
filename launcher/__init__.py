"""The program behind the SecureDrop icon: ``sdw-updater`` and its wizard.

Qt is imported only when the wizard opens; the fast path never loads it.
"""
