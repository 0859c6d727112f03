"""``python -m bench``: run every workload and print the report."""

from bench.run import main

main()
