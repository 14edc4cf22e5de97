"""The window tier: the installed programs on a private X server (see xsession.py)."""
