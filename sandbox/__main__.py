"""`python -m sandbox …`: the same command line as `civicpay-sandbox`."""

from sandbox.cli import main

main()
