"""The environment variables distlab reads and sets, named once.

Most carry a run from the runner into each layer's pytest process (and on to
the processes a test starts); the runner sets them, the plugin and the
fixtures read them. A user may set them by hand to run a layer with plain
``pytest``. Nothing here reads the environment: this module only names it.
"""

from __future__ import annotations

# Runner -> pytest process.
EVENTS_ENV = "DISTLAB_EVENTS"  # where live events go: a socket address or file:PATH
SEED_ENV = "DISTLAB_SEED"  # the run's root seed
RUN_DIR_ENV = "DISTLAB_RUN_DIR"  # the run directory
CONFIG_ENV = "DISTLAB_CONFIG"  # the config file the run was started with
LAYER_ENV = "DISTLAB_LAYER"  # the layer this pytest process runs
LONG_ENV = "DISTLAB_LONG"  # "1": scenarios run at full length (distlab --long)

# Set by the user.
PG_DSN_ENV = "DISTLAB_PG_DSN"  # an existing PostgreSQL instead of a throwaway server
BRANCH_ENV = "DISTLAB_BRANCH"  # the branch baselines are kept per, over CI's and git's

# Cluster -> each node process.
NODE_ID_ENV = "DISTLAB_NODE_ID"  # the node's id, e.g. n1
