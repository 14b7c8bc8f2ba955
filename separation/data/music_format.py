"""The MUSDB18(-HQ) layout both the music corpus generator writes and the music datasets read.

    ROOT/{train,test}/<track>/{mixture,drums,bass,other,vocals}.wav
    ROOT/musdb.yaml     musdb's setup file, naming the validation tracks (optional)

Kept apart so the generator (no torch) and the readers agree on one source of
these names without importing each other.
"""

from __future__ import annotations

SOURCES = ("drums", "bass", "other", "vocals")  # MUSDB's sources, in its stem order
SETUP_FILE = "musdb.yaml"
