"""The code location `dagster dev` loads: the defs, configured from the environment."""

from pipelines.defs import build_definitions
from pipelines.defs.resources import settings_from_env

defs = build_definitions(*settings_from_env())
