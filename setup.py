"""Packaging for the SecureDrop Workstation preflight updater.

Runtime dependencies that only exist in dom0 (``qubesadmin``) are not
declared here: they come from Qubes' own packages and are imported lazily.
"""

import re
from pathlib import Path

from setuptools import find_packages, setup

# Read, not imported: the build runs in an isolated environment.
_VERSION_FILE = Path(__file__).parent / "sdw_updater" / "version.py"
__version__ = re.search(r'__version__ = "([^"]+)"', _VERSION_FILE.read_text()).group(1)

setup(
    name="securedrop-updater",
    version=__version__,
    description="Preflight updater and launcher for SecureDrop Workstation (Qubes OS dom0)",
    license="AGPL-3.0-or-later",
    python_requires=">=3.11",
    packages=find_packages(
        include=[
            "sdw_updater",
            "sdw_updater.*",
            "launcher",
            "launcher.*",
            "sdw_notify",
            "sdw_notify.*",
            # The simulator: for development, demos and CI; the dom0 RPM leaves it out.
            "sdw_sim",
            "sdw_sim.*",
        ]
    ),
    package_data={"sdw_updater": ["keys/*.asc"], "sdw_sim": ["keys/*.asc"]},
    install_requires=["python-gnupg>=0.5"],
    # The window and the notifier run on PyQt6, else on PyQt5 (launcher/qt.py).
    extras_require={"gui": ["PyQt6>=6.4"], "gui-qt5": ["PyQt5>=5.15"]},
    entry_points={
        "console_scripts": [
            "sdw-updater=launcher.entry:console",
            "sdw-notify=sdw_notify.entry:console",
            "sdw-login=sdw_notify.login:main",
            # The admin's switch between SecureDrop Workstation's launcher and this one.
            "securedrop-updater-switch=launcher.switch:main",
        ]
    },
)
