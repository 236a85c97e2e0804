"""Facesets: folders (or packed files) of aligned faces, and the tools that curate them."""
