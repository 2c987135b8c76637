"""distlab.lab: an interactive lab session on top of the nemesis.

A lab session is the configured cluster, a bounded register workload and a
nemesis that takes faults from a person's keys (``LabControls``) instead of
a timeline, or replays a saved ``Schedule``. What happened is saved as a real
schedule and a ready-to-run regression test. The dashboard (``distlab.tui``)
only drives it; the system under test is reached through a ``LabAdapter``
named in ``config.toml`` (``[lab] client``). See docs/tui.md.
"""

# No imports here: the dashboard imports distlab.lab.controls on every start,
# and must not pay for the cluster, the workload and the nemesis to do so.
# The parts: adapter (LabAdapter, load_adapter), controls (LabControls),
# keys (LabKeys), session (LabSession), record (what is saved), replay.
