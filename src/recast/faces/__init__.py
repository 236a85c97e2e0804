"""Pure face geometry and metadata (no torch): face types, alignment, pose, masks, smoothing,
and the aligned-face file format."""
