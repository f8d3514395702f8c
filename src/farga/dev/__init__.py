"""Repository tooling: what maintains this repository rather than runs a component.

The generated pages (``farga dev report``: README blocks, results, configuration; the reliability page),
the Grafana dashboards, the lock and supply-chain checks, the soak run and the scale-out benchmark.
Nothing at run time imports from here.
"""
