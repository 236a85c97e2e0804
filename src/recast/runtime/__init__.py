"""What this machine can do, decided once: precision (:mod:`.precision`) and threads (:mod:`.threads`).

Every stage that runs a network (training, merging, the benchmarks) asks these modules rather than
deciding for itself, so a choice holds the same everywhere and is tested in one place with each
hardware capability faked.
"""
