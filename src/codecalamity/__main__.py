"""Run the ``calamity`` command as ``python -m codecalamity``."""

from __future__ import annotations

from codecalamity.cli import main

if __name__ == "__main__":
    main()
