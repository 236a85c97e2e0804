"""Stages that join the others: ``recast run`` (:mod:`~recast.pipeline.run`), the preset a time budget buys
(:mod:`~recast.pipeline.budget`), the built-in demo and the showcase clip."""
