"""Stages that join the others: encoding merged frames into a labelled video, and ``recast run``."""
