"""`python -m pipelines` runs the operator CLI."""

from pipelines.cli import main

main()
