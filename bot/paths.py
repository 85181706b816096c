"""Where the bundled data lives, relative to the checkout."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KNOWLEDGE_DIR = ROOT / "knowledge"
LOCALES_DIR = ROOT / "locales"
