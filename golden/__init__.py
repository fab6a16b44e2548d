"""The committed golden vectors (data only). ``ROOT`` is the folder holding MANIFEST.json."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent
