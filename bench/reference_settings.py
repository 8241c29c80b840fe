"""Settings of the plain-DRF reference server: the project's settings with the reference URLs."""

from scale_nodes.settings import *  # noqa: F403

ROOT_URLCONF = "bench.reference"
